/* Reading a configuration: an INI file over the defaults, then the --set overrides, then
 * the rules across keys (dk_config_rules.c).
 *
 * INI dialect (Debian's libinih 55, driven through ini_parse_stream with our own line
 * reader, see read_line):
 *   - `key = value` under a `[section]`; whitespace around section names, keys and values
 *     is trimmed. inih also accepts `key: value`.
 *   - Whole-line comments start with ';' or '#'. An inline comment starts with ';' preceded
 *     by whitespace; '#' after a value is NOT a comment (it stays in the value, and the
 *     error message points this out).
 *   - A section may appear more than once; its keys merge. A key set twice in the file is
 *     an error ("set twice, first at line N"); --set overrides apply after the file, in
 *     order, and may set any key again.
 *   - Keys before the first [section], unknown sections (even empty ones) and unknown keys
 *     are errors. Indented lines are ordinary lines (inih's multi-line continuation values
 *     are disabled, because an indented `key = value` would silently be glued onto the
 *     previous key's value).
 *   - Only a comment may follow a section header on its line ("[train] steps = 5" is an
 *     error: inih would drop the key without a word).
 *   - Lines are limited to 197 characters (inih's fixed line buffer), end with LF or CR LF
 *     (a lone CR is an error) and may begin with a UTF-8 byte order mark. The limit holds
 *     for --set values too: config.ini and the checkpoints store each key on one line.
 */
#include "dk_config_schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

static void fail_at(dk_config_load_state *st, int line)
{
    st->failed = true;
    st->fail_line = line;
}

/* Reads one line into st->line without its newline: its length, -1 at the end of the file,
 * or -2 when the line does not fit (the rest is left unread: the file is rejected anyway,
 * and a mistaken /dev/zero or multi-gigabyte file must not be read into memory). */
static long next_line(dk_config_load_state *st, bool *has_nul)
{
    long n = 0;
    int c;
    *has_nul = false;
    while ((c = getc(st->file)) != EOF && c != '\n') {
        if (n + 1 >= (long)sizeof st->line)
            return -2;
        *has_nul |= c == '\0';
        st->line[n++] = (char)c;
    }
    st->line[n] = '\0';
    return c == EOF && n == 0 ? -1 : n;
}

/* A section header "[name] rest" as inih should see it, or NULL after an error. inih
 * drops whatever follows the ']' (so "[train] steps = 5" would set nothing and say
 * nothing) and cuts names at 49 characters: the header is checked here and handed on
 * as the bare "[name]". Only a comment may follow it. */
static char *section_line(dk_config_load_state *st, char *buf, int num, const char *name, const char *rest,
                          const char *end)
{
    char where[DK_PATH_MAX + 32];
    snprintf(where, sizeof where, "%s:%d", st->path, st->lineno);
    if (dk_config_find_section(name) < 0) {
        dk_config_unknown_section(where, name);
        fail_at(st, st->lineno);
        return NULL;
    }
    while (rest < end && isspace((unsigned char)*rest))
        rest++;
    if (rest < end && *rest != ';' && *rest != '#') {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                     "%s: '%.*s' follows the section header [%s] on its line: put each key = value on a line of "
                     "its own (only a ';' or '#' comment may follow a header)",
                     where, (int)(end - rest), rest, name);
        fail_at(st, st->lineno);
        return NULL;
    }
    snprintf(buf, (size_t)num, "[%s]\n", name); /* a known name: short */
    return buf;
}

/* inih's fgets-style reader. Reading lines ourselves gives the handler the line number
 * that Debian's inih does not pass, turns inih's silent splitting of over-long lines and
 * of CR-only files into errors, checks section headers, and lets us strip leading
 * whitespace so that inih never treats an indented line as the continuation of the
 * previous value. */
static char *read_line(char *buf, int num, void *stream)
{
    dk_config_load_state *st = stream;
    if (st->failed)
        return NULL;
    errno = 0;
    bool has_nul = false;
    long len = next_line(st, &has_nul);
    if (len == -1) {
        if (ferror(st->file)) {
            dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "cannot read config file '%s': %s", st->path,
                         strerror(errno ? errno : EIO));
            fail_at(st, st->lineno + 1);
        }
        return NULL;
    }
    st->lineno++;
    if (has_nul) { /* C strings would silently end the line there */
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s:%d: the line contains a NUL byte: is this a text file?",
                     st->path, st->lineno);
        fail_at(st, st->lineno);
        return NULL;
    }
    char *start = st->line;
    if (st->lineno == 1 && !strncmp(start, "\xEF\xBB\xBF", 3)) /* UTF-8 byte order mark */
        start += 3;
    /* Line 2 too: `distkan check x.ini > resolved.ini` puts its own line first. */
    if (st->lineno <= 2 && len >= 0 && !strncmp(start, DK_CONFIG_WRITTEN_HEADER, strlen(DK_CONFIG_WRITTEN_HEADER)))
        st->written = true;
    while (*start && isspace((unsigned char)*start))
        start++;
    size_t n = len < 0 ? sizeof st->line : strlen(start);
    while (n > 0 && n < sizeof st->line && start[n - 1] == '\r')
        n--;
    /* A carriage return inside a line: a file with CR-only (classic Mac OS) line endings,
     * which inih would read as one line, a header whose keys vanish without a word. */
    if (memchr(len < 0 ? st->line : start, '\r', len < 0 ? sizeof st->line - 1 : n)) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                     "%s:%d: a carriage return (CR) inside the line: the file seems to end its lines with CR alone "
                     "(classic Mac OS); save it with LF (Unix) or CR LF (Windows) line endings",
                     st->path, st->lineno);
        fail_at(st, st->lineno);
        return NULL;
    }
    /* inih needs room for "\r\n\0" after the longest line. */
    if (num < 3 || n > (size_t)num - 3) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                     "%s:%d: line is longer than %d characters, the limit of the INI parser (config.ini and every "
                     "checkpoint hold each key on one such line too): shorten it (a comment can go on a line of "
                     "its own, a long path can be a symbolic link)",
                     st->path, st->lineno, num - 3);
        fail_at(st, st->lineno);
        return NULL;
    }
    /* inih does not report section headers to the handler, so check them here: an
     * unknown section is an error even when it holds no keys. */
    if (start[0] == '[') {
        const char *close = memchr(start, ']', n);
        char name[256]; /* the line is shorter than this */
        if (close && dk_config_copy_trimmed(name, sizeof name, start + 1, close))
            return section_line(st, buf, num, name, close + 1, start + n);
    }
    memcpy(buf, start, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return buf;
}

/* A path in a file someone wrote is taken literally, so text that other INI dialects
 * would strip (quotes, a '#' comment) would become part of the directory created or the
 * file looked for. Configurations distkan wrote (config.ini, checkpoints, check's output)
 * and --set values are taken as they are: a person typed the latter on purpose, and a
 * written one holds what --set or --run-dir gave. */
static dk_err path_reads_as_meant(const dk_key_spec *s, const char *value, const char *where)
{
    if (!s->path)
        return DK_OK;
    const size_t n = strlen(value);
    if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0])
        DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s = '%s': quotes are not removed from values here, so they would be part "
                 "of the path: write it without them", where, s->section, s->key, value);
    if (strstr(value, " #") || strstr(value, "\t#"))
        DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s = '%s': '#' after a value does not start a comment here (inline comments "
                 "start with ' ;'), so it would be part of the path: remove the comment or start it with ';' (a path "
                 "that really holds ' #' can be given with --set)", where, s->section, s->key, value);
    return DK_OK;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    dk_config_load_state *st = user;
    char where[DK_PATH_MAX + 32], sec[DK_NAME_MAX];
    snprintf(where, sizeof where, "%s:%d", st->path, st->lineno);
    if (!name[0]) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: syntax error, expected key = value or [section]", where);
        fail_at(st, st->lineno);
        return 0;
    }
    /* inih keeps the spaces of "[ model ]". */
    if (!dk_config_copy_trimmed(sec, sizeof sec, section, section + strlen(section)))
        sec[0] = '?', sec[1] = '\0';
    if (!sec[0]) {
        char sections[256], hint[300] = "";
        if (dk_config_sections_with_key(name, "", sections, sizeof sections) > 0)
            snprintf(hint, sizeof hint, "; it belongs in section %s", sections);
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: key '%s' comes before any [section] header%s", where, name,
                     hint);
        fail_at(st, st->lineno);
        return 0;
    }
    if (dk_config_find_section(sec) < 0) { /* read_line has rejected it already; kept for safety */
        dk_config_unknown_section(where, sec);
        fail_at(st, st->lineno);
        return 0;
    }
    int idx = dk_config_find_key(sec, name);
    if (idx < 0) {
        dk_config_unknown_key(where, sec, name);
        fail_at(st, st->lineno);
        return 0;
    }
    if (st->from[idx] > 0) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: [%s] %s set twice, first at line %d", where, sec, name,
                     st->from[idx]);
        fail_at(st, st->lineno);
        return 0;
    }
    if ((st->user_file && !st->written && path_reads_as_meant(&dk_config_keys[idx], value, where) != DK_OK) ||
        dk_config_set_key(st->cfg, &dk_config_keys[idx], value, where) != DK_OK) {
        fail_at(st, st->lineno);
        return 0;
    }
    st->from[idx] = st->lineno;
    return 1;
}

/* Applies "section.key=value"; st (may be NULL) records where the key came from. */
static dk_err apply_assignment(dk_config *cfg, const char *assignment, const char *origin, dk_config_load_state *st,
                               int override_index)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    char sec[DK_NAME_MAX], key[DK_NAME_MAX];
    if (!dot || !dk_config_copy_trimmed(sec, sizeof sec, assignment, dot) || !dk_config_copy_trimmed(key, sizeof key, dot + 1, eq) ||
        !sec[0] || !key[0]) {
        /* "--set steps=5": name the sections that hold the key. */
        char sections[256] = "";
        if (eq && !dot && dk_config_copy_trimmed(key, sizeof key, assignment, eq) && key[0] &&
            dk_config_sections_with_key(key, "", sections, sizeof sections) > 0)
            DK_ERROR(DK_ERR_USAGE, "%s: expected section.key=value: '%s' is a key of section %s (e.g. --set %.*s.%s)",
                     origin, key, sections, (int)strcspn(sections + 1, "]"), sections + 1, assignment);
        DK_ERROR(DK_ERR_USAGE, "%s: expected section.key=value, e.g. --set train.lr=0.001", origin);
    }
    if (dk_config_find_section(sec) < 0)
        DK_CALL(dk_config_unknown_section(origin, sec));
    int idx = dk_config_find_key(sec, key);
    if (idx < 0)
        DK_CALL(dk_config_unknown_key(origin, sec, key));
    static char value[DK_PATH_MAX + 1]; /* large; configuration is loaded on one thread */
    if (!dk_config_copy_trimmed(value, sizeof value, eq + 1, eq + strlen(eq)))
        DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s: the value is longer than %d characters", origin, sec, key, DK_PATH_MAX);
    DK_CALL(dk_config_set_key(cfg, &dk_config_keys[idx], value, origin));
    if (st)
        st->from[idx] = -(1 + override_index);
    return DK_OK;
}

/* runs/<file name without directory and extension>, e.g. runs/poisson for cfg/poisson.ini. */
static dk_err default_run_dir(dk_config *cfg, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    /* "..ini" and "...ini" would name runs/. and runs/.. (runs/ itself, or the directory
     * above it): such a stem, like an empty one, gives runs/config. */
    if (len == 0 || (len == 1 && base[0] == '.') || (len == 2 && base[0] == '.' && base[1] == '.'))
        base = "config", len = strlen(base);
    /* A line end in the name would break config.ini's run_dir line, which must read back:
     * no default then (dk_config_require_run_dir says so where --run-dir does not give one). */
    for (size_t i = 0; i < len; i++)
        if (dk_config_is_control((unsigned char)base[i]))
            return DK_OK;
    int n = snprintf(cfg->run_dir, sizeof cfg->run_dir, "runs/%.*s", (int)len, base);
    if (n < 0 || (size_t)n >= sizeof cfg->run_dir)
        DK_ERROR(DK_ERR_USAGE, "%s: the default run directory runs/<name> is too long; set [output] run_dir", path);
    return DK_OK;
}

void dk_config_defaults(dk_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++)
        if (dk_config_set_key(cfg, &dk_config_keys[i], dk_config_keys[i].default_text, "default") != DK_OK) {
            /* The schema contradicts itself: a bug, caught by the first test run. */
            fprintf(stderr, "distkan: internal error: bad default: %s\n", dk_error_message());
            abort();
        }
}

/* Parses `file` (called `path` in messages) over the defaults already in cfg, applies the
 * overrides and checks the cross-key rules. */
static dk_err load_stream(dk_config *cfg, FILE *file, const char *path, const char *const *overrides,
                          int n_overrides, bool user_file)
{
    dk_config_load_state st = {.cfg = cfg, .path = path, .overrides = overrides, .file = file, .user_file = user_file};
    int ret = ini_parse_stream(read_line, &st, on_key, &st);
    if (ret == -2)
        DK_ERROR(DK_ERR_MEMORY, "%s: out of memory while parsing", path);
    /* inih keeps going after a syntax error (a line without '=' or an unclosed '['), so
     * such an error may precede the one our reader or handler stopped at. */
    if (ret > 0 && (!st.failed || ret < st.fail_line))
        DK_ERROR(DK_ERR_USAGE, "%s:%d: syntax error, expected key = value or [section]", path, ret);
    if (st.failed)
        return dk_error_push(dk_error_code(), __FILE__, __LINE__, __func__);

    static char origin[DK_PATH_MAX + 16];
    for (int i = 0; i < n_overrides; i++) {
        if (!overrides[i])
            DK_ERROR(DK_ERR_INTERNAL, "override %d is NULL", i);
        snprintf(origin, sizeof origin, "--set %s", overrides[i]);
        DK_CALL(apply_assignment(cfg, overrides[i], origin, &st, i));
    }

    DK_CALL(dk_config_check_rules(&st));
    if (user_file)
        dk_config_note_unread(&st, cfg->unread_keys, sizeof cfg->unread_keys);
    /* The header promises "function is empty when csv is set": the fit task then has one
     * source of data to look at. */
    if (cfg->csv[0])
        memset(cfg->function, 0, sizeof cfg->function);
    return DK_OK;
}

static dk_err set_source(dk_config *cfg, const char *path)
{
    dk_config_defaults(cfg);
    if (!path || !path[0])
        DK_ERROR(DK_ERR_USAGE, "no config file given");
    if (strlen(path) >= sizeof cfg->source_path)
        DK_ERROR(DK_ERR_USAGE, "config file path is longer than %zu characters", sizeof cfg->source_path - 1);
    strcpy(cfg->source_path, path);
    return DK_OK;
}

dk_err dk_config_load(dk_config *cfg, const char *path, const char *const *overrides, int n_overrides)
{
    DK_CALL(set_source(cfg, path));
    FILE *file = fopen(path, "r");
    if (!file)
        DK_ERROR(DK_ERR_USAGE, "cannot open config file '%s': %s", path, strerror(errno));
    dk_err err = load_stream(cfg, file, path, overrides, n_overrides, true);
    fclose(file);
    DK_CALL(err);
    if (!cfg->run_dir[0])
        DK_CALL(default_run_dir(cfg, path));
    return DK_OK;
}

dk_err dk_config_require_run_dir(const dk_config *cfg)
{
    if (!cfg->run_dir[0])
        DK_ERROR(DK_ERR_USAGE,
                 "%s: the file name holds a line end or other control character, which the default run directory "
                 "runs/<name> cannot: set [output] run_dir, or give --run-dir",
                 cfg->source_path);
    return DK_OK;
}

dk_err dk_config_load_text(dk_config *cfg, const char *text, const char *label)
{
    DK_CALL(set_source(cfg, label));
    if (!text[0])
        DK_ERROR(DK_ERR_USAGE, "%s: the configuration is empty", label);
    FILE *file = fmemopen((void *)text, strlen(text), "r");
    if (!file)
        DK_ERROR(DK_ERR_MEMORY, "%s: cannot read the configuration text: %s", label, strerror(errno));
    dk_err err = load_stream(cfg, file, label, NULL, 0, false);
    fclose(file);
    DK_CALL(err);
    return DK_OK;
}

dk_err dk_config_set(dk_config *cfg, const char *assignment, const char *origin)
{
    static char made[DK_PATH_MAX + 16];
    if (!origin) {
        snprintf(made, sizeof made, "--set %s", assignment);
        origin = made;
    }
    DK_CALL(apply_assignment(cfg, assignment, origin, NULL, 0));
    return DK_OK;
}
