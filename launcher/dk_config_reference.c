/* The key reference: every key with its default, what it accepts and what it means, as
 * text for `distkan keys` and as Markdown tables for the README. */
#include "dk_config_schema.h"

#include <string.h>

/* Two lines a key, so that a terminal does not wrap it: the key, its default and what it
 * accepts, then its meaning under the expectation. */
void dk_config_write_reference(FILE *f)
{
    char expect[1024];
    int wkey = (int)strlen("key"), wdef = (int)strlen("default");
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
        int k = (int)strlen(dk_config_keys[i].key);
        int d = dk_config_keys[i].default_text[0] ? (int)strlen(dk_config_keys[i].default_text) : (int)strlen("(empty)");
        wkey = k > wkey ? k : wkey;
        wdef = d > wdef ? d : wdef;
    }
    fprintf(f, "  %-*s  %-*s  %s\n  %-*s  %-*s  %s\n", wkey, "key", wdef, "default", "expected", wkey, "", wdef, "",
            "meaning");
    for (int s = 0; s < DK_CONFIG_N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", dk_config_sections[s]);
        for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
            if (strcmp(dk_config_keys[i].section, dk_config_sections[s]) != 0)
                continue;
            dk_config_describe_key(&dk_config_keys[i], expect, sizeof expect);
            fprintf(f, "  %-*s  %-*s  %s\n  %-*s  %-*s  %s\n", wkey, dk_config_keys[i].key, wdef,
                    dk_config_keys[i].default_text[0] ? dk_config_keys[i].default_text : "(empty)", expect, wkey, "", wdef, "",
                    dk_config_keys[i].doc);
        }
    }
}

/* Markdown table cells: '|' would end the cell, "<stem>" would vanish as an HTML tag and
 * "a*b*c" would turn italic. */
static void md_cell(FILE *f, const char *text)
{
    for (; *text; text++) {
        if (*text == '<')
            fputs("&lt;", f);
        else if (*text == '>')
            fputs("&gt;", f);
        else {
            if (*text == '|' || *text == '*')
                fputc('\\', f);
            fputc(*text, f);
        }
    }
}

void dk_config_write_reference_markdown(FILE *f)
{
    char expect[1024];
    for (int s = 0; s < DK_CONFIG_N_SECTIONS; s++) {
        fprintf(f, "%s### [%s]\n\n| Key | Default | Expected | Meaning |\n|---|---|---|---|\n", s ? "\n" : "",
                dk_config_sections[s]);
        for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
            if (strcmp(dk_config_keys[i].section, dk_config_sections[s]) != 0)
                continue;
            dk_config_describe_key(&dk_config_keys[i], expect, sizeof expect);
            fprintf(f, "| `%s` | ", dk_config_keys[i].key);
            if (dk_config_keys[i].default_text[0]) {
                fputc('`', f);
                fputs(dk_config_keys[i].default_text, f); /* code span: no escapes */
                fputc('`', f);
            } else {
                fputs("*(empty)*", f);
            }
            fputs(" | ", f);
            md_cell(f, expect);
            fputs(" | ", f);
            md_cell(f, dk_config_keys[i].doc);
            fputs(" |\n", f);
        }
    }
}
