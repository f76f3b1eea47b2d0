/* The public interface of dk_config.h that is not reading: values derived from a
 * configuration, the resume check, and printing the resolved configuration as INI text
 * that reads back to the same values (checked by dk_config_check_storable). The schema and
 * the reading live in the other launcher/dk_config_*.c files (see dk_config_schema.h). */
#include "dk_config_schema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

long dk_config_total_updates(const dk_config *cfg)
{
    return (cfg->optimizer != DK_OPT_LBFGS ? cfg->steps : 0) + (cfg->optimizer != DK_OPT_ADAM ? cfg->lbfgs_steps : 0);
}

void dk_config_grid_schedule(const dk_config *cfg, dk_grid_schedule *out)
{
    const bool staged = cfg->n_grid_schedule > 0;
    dk_grid_schedule_plan(out, staged ? cfg->n_grid_schedule : 1, staged ? cfg->grid_schedule : &cfg->grid,
                          dk_config_total_updates(cfg), cfg->n_grid_steps, cfg->grid_steps, cfg->grid_update_every,
                          cfg->grid_update_until);
}

dk_pde_params dk_config_pde_params(const dk_config *cfg)
{
    return (dk_pde_params){.dim = cfg->pde_dim, .a1 = cfg->pde_a1, .a2 = cfg->pde_a2,
                           .wavenumber = cfg->pde_wavenumber, .diffusivity = cfg->pde_diffusivity};
}

/* The keys a resume may change, from the schema: "[train] steps, ..., every [checkpoint] key". */
static void list_changeable_keys(char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int s = 0; s < DK_CONFIG_N_SECTIONS && used < n; s++) {
        const char *section = dk_config_sections[s];
        int in_section = 0, changeable = 0;
        for (int i = 0; i < DK_CONFIG_N_KEYS; i++)
            if (strcmp(dk_config_keys[i].section, section) == 0) {
                in_section++;
                changeable += dk_config_keys[i].resume_may_change;
            }
        if (changeable > 0 && changeable == in_section && in_section > 1) {
            used += (size_t)snprintf(buf + used, n - used, "%severy [%s] key", used ? ", " : "", section);
            continue;
        }
        for (int i = 0; i < DK_CONFIG_N_KEYS && used < n; i++)
            if (dk_config_keys[i].resume_may_change && strcmp(dk_config_keys[i].section, section) == 0)
                used += (size_t)snprintf(buf + used, n - used, "%s[%s] %s", used ? ", " : "", section,
                                         dk_config_keys[i].key);
    }
}

dk_err dk_config_check_resume(const dk_config *saved, const dk_config *now, const char *checkpoint_label,
                              FILE *changes, int *n_changed)
{
    static char a[DK_PATH_MAX + 16], b[DK_PATH_MAX + 16];
    char fixed[2048] = "";
    size_t used = 0;
    int n_fixed = 0;
    *n_changed = 0;
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
        dk_config_format_key(&dk_config_keys[i], saved, a, sizeof a);
        dk_config_format_key(&dk_config_keys[i], now, b, sizeof b);
        if (strcmp(a, b) == 0)
            continue;
        if (dk_config_keys[i].resume_may_change) {
            if (changes)
                fprintf(changes, "  [%s] %s: %s -> %s\n", dk_config_keys[i].section, dk_config_keys[i].key, a, b);
            (*n_changed)++;
            continue;
        }
        n_fixed++;
        if (used < sizeof fixed)
            used += (size_t)snprintf(fixed + used, sizeof fixed - used, "\n  [%s] %s: the checkpoint has '%s', the config '%s'",
                                     dk_config_keys[i].section, dk_config_keys[i].key, a, b);
    }
    if (n_fixed > 0) {
        char changeable[1024];
        list_changeable_keys(changeable, sizeof changeable);
        DK_ERROR(DK_ERR_USAGE,
                 "%s: cannot resume from %s: %d key%s differ%s from the checkpoint and cannot change on resume "
                 "(only these can: %s; for [fit] csv the path, not its data):%s",
                 now->source_path, checkpoint_label, n_fixed, n_fixed == 1 ? "" : "s", n_fixed == 1 ? "s" : "",
                 changeable, fixed);
    }
    return DK_OK;
}

dk_err dk_config_checkpoint_dir(const dk_config *cfg, char *out, size_t capacity)
{
    int n = cfg->ckpt_dir[0] ? snprintf(out, capacity, "%s", cfg->ckpt_dir)
                             : snprintf(out, capacity, "%s/checkpoints", cfg->run_dir);
    if (n < 0 || (size_t)n >= capacity)
        DK_ERROR(DK_ERR_USAGE, "%s: the checkpoint directory path is longer than %zu characters; set [checkpoint] dir",
                 cfg->source_path, capacity - 1);
    return DK_OK;
}

void dk_config_print_unread(const dk_config *cfg, FILE *f, const char *prefix)
{
    for (const char *line = cfg->unread_keys; *line;) {
        const size_t n = strcspn(line, "\n");
        fprintf(f, "%swarning: %s: %.*s\n", prefix, cfg->source_path, (int)n, line);
        line += n + (line[n] == '\n');
    }
}

void dk_config_write_path_comment(FILE *f, const char *before, const char *path, const char *after)
{
    /* A comment is a line too: a long path loses its start rather than make the text
     * unreadable, and a line end or other control character in it (a file name may hold
     * one) would start a line of its own. */
    const size_t len = strlen(path), fixed = strlen("# ") + strlen(before) + strlen(after);
    const size_t room = DK_INI_LINE_MAX > fixed + 3 ? DK_INI_LINE_MAX - fixed - 3 : 0;
    const char *shown = len > room ? path + len - room : path;
    fprintf(f, "# %s%s", before, len > room ? "..." : "");
    for (const char *p = shown; *p; p++)
        fputc(dk_config_is_control((unsigned char)*p) ? '?' : *p, f);
    fprintf(f, "%s\n", after);
}

void dk_config_write_ini(const dk_config *cfg, FILE *f)
{
    static char value[DK_PATH_MAX + 16];
    fprintf(f, "%s\n", DK_CONFIG_WRITTEN_HEADER);
    if (cfg->source_path[0])
        dk_config_write_path_comment(f, "resolved from ", cfg->source_path, "");
    for (int s = 0; s < DK_CONFIG_N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", dk_config_sections[s]);
        for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
            if (strcmp(dk_config_keys[i].section, dk_config_sections[s]) != 0)
                continue;
            dk_config_format_key(&dk_config_keys[i], cfg, value, sizeof value);
            fprintf(f, "%s = %s\n", dk_config_keys[i].key, value);
        }
    }
}

dk_err dk_config_to_text(const dk_config *cfg, char **text)
{
    *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    if (!f)
        DK_ERROR(DK_ERR_MEMORY, "cannot write the configuration to memory: %s", strerror(errno));
    dk_config_write_ini(cfg, f);
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        DK_ERROR(DK_ERR_MEMORY, "cannot write the configuration to memory");
    }
    return DK_OK;
}

/* The text without its comment lines (which name the source file): what must read back. */
static void strip_comments(char *text)
{
    char *out = text;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (line[0] != '#') {
            memmove(out, line, n);
            out += n;
        }
        line += n;
    }
    *out = '\0';
}

/* The first line where the written configuration and its reading back differ, by section
 * and key, with both values: the user then knows which value to change and why. */
static dk_err report_unstorable(const dk_config *cfg, const char *text, const char *again)
{
    char section[DK_NAME_MAX] = "";
    const char *a = text, *b = again;
    while (*a && *b) {
        const size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        if (a[0] == '[' && na >= 2 && na - 2 < sizeof section) {
            memcpy(section, a + 1, na - 2);
            section[na - 2] = '\0';
        }
        if (na != nb || memcmp(a, b, na) != 0) {
            const char *eq = memchr(a, '=', na), *eq_b = memchr(b, '=', nb);
            const int key_len = eq && eq > a ? (int)(eq - a - 1) : (int)na;
            const char *value = eq ? eq + 2 : a, *value_b = eq_b ? eq_b + 2 : b;
            DK_ERROR(DK_ERR_USAGE,
                     "%s (with any --set and --run-dir): [%s] %.*s = '%.*s' cannot be stored in config.ini and "
                     "checkpoints: it reads back as "
                     "'%.*s' (an INI value cannot begin or end with blanks, and ' ;' starts a comment); "
                     "choose a value without them",
                     cfg->source_path, section, key_len, a, (int)(na - (size_t)(value - a)), value,
                     (int)(nb - (size_t)(value_b - b)), value_b);
        }
        a += na + (a[na] == '\n');
        b += nb + (b[nb] == '\n');
    }
    DK_ERROR(DK_ERR_USAGE,
             "%s: the resolved configuration does not read back as written (a value the INI format cannot carry?); "
             "see `distkan check`",
             cfg->source_path);
}

dk_err dk_config_check_storable(const dk_config *cfg)
{
    char *text = NULL;
    DK_CALL(dk_config_to_text(cfg, &text));
    /* Lines first: the message can then name the key. */
    char section[DK_NAME_MAX] = "";
    dk_err err = DK_OK;
    for (const char *line = text; *line && err == DK_OK;) {
        const char *end = strchr(line, '\n');
        const size_t n = end ? (size_t)(end - line) : strlen(line);
        if (line[0] == '[' && n >= 2 && n - 2 < sizeof section) {
            memcpy(section, line + 1, n - 2);
            section[n - 2] = '\0';
        } else if (n > DK_INI_LINE_MAX) {
            const char *eq = memchr(line, '=', n);
            const int key_len = eq && eq > line ? (int)(eq - line - 1) : 0;
            err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                               "%s (with any --set and --run-dir): [%s] %.*s: the value is too long to store: its "
                               "line in config.ini and in every "
                               "checkpoint would have %zu characters, more than the %d the INI parser reads back, so "
                               "the run could never be resumed; shorten it (for a path, a symbolic link to the "
                               "directory works)",
                               cfg->source_path, section, key_len, line, n, DK_INI_LINE_MAX);
        }
        line += n + (end != NULL);
    }
    /* Then a full round trip through the parser, which is what a resume will do. */
    static dk_config back;
    char *again = NULL;
    if (err == DK_OK)
        err = dk_config_load_text(&back, text, "the resolved configuration");
    if (err == DK_OK)
        err = dk_config_to_text(&back, &again);
    if (err == DK_OK) {
        strip_comments(text);
        strip_comments(again);
        if (strcmp(text, again) != 0)
            err = report_unstorable(cfg, text, again);
    }
    free(text);
    free(again);
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    return DK_OK;
}
