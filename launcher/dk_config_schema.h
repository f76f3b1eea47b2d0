/* The configuration schema and the helpers that the files implementing dk_config.h share.
 * One table (dk_config_keys) drives parsing, defaults, range checks, the resolved INI
 * printout and the key reference, so the four cannot drift apart. Internal to:
 *   dk_config_schema.c     the table of keys and sections
 *   dk_config_value.c      one key's value: parse and check, describe, format
 *   dk_config_read.c       an INI file and --set overrides into a dk_config
 *   dk_config_rules.c      the rules across keys, checked once everything is read
 *   dk_config.c            derived values, the resume check, printing the resolved config
 *   dk_config_reference.c  the key reference (`distkan keys`)
 */
#ifndef DK_CONFIG_SCHEMA_H
#define DK_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ini.h>

#include "dk_config.h"

/* The longest line the INI parser reads back (inih's buffer holds "\r\n\0" besides). */
#define DK_INI_LINE_MAX (INI_MAX_LINE - 3)

typedef enum dk_key_type {
    DK_KEY_INT,         /* int, long or unsigned long long field (by size), in [imin, imax] */
    DK_KEY_DOUBLE,      /* finite double, range in dmin/dmax/range flags */
    DK_KEY_ENUM,        /* one of names[]; the index is stored as int */
    DK_KEY_BOOL,        /* true/false (yes/no, on/off, 1/0 accepted); stored as bool */
    DK_KEY_STRING,      /* any text shorter than the field; `accepts` may restrict it */
    DK_KEY_INT_LIST,    /* comma-separated ints, each in [imin, imax], count in [min_count, max_count] */
    DK_KEY_DOUBLE_PAIR  /* "lo,hi", two finite numbers with lo < hi */
} dk_key_type;

enum {
    DK_RANGE_MIN = 1,      /* dmin is a bound */
    DK_RANGE_MAX = 2,      /* dmax is a bound */
    DK_RANGE_MIN_OPEN = 4, /* the lower bound is exclusive */
    DK_RANGE_MAX_OPEN = 8  /* the upper bound is exclusive */
};

typedef struct dk_key_spec {
    const char *section;
    const char *key;
    dk_key_type type;
    const char *default_text;      /* parsed like any value, so defaults are checked too */
    size_t offset, size;           /* the field in dk_config */
    size_t count_offset;           /* DK_KEY_INT_LIST: the int that receives the entry count */
    long long imin, imax;          /* DK_KEY_INT, DK_KEY_INT_LIST entries (inclusive) */
    double dmin, dmax;             /* DK_KEY_DOUBLE, with `range` */
    unsigned range;
    int min_count, max_count;      /* DK_KEY_INT_LIST */
    const char *const *names;      /* DK_KEY_ENUM, NULL-terminated */
    bool (*accepts)(const char *value);        /* DK_KEY_STRING: extra validation */
    void (*expect)(char *buf, size_t n);       /* DK_KEY_STRING: expectation text */
    bool path;                     /* DK_KEY_STRING: a file or directory, taken literally */
    bool resume_may_change;        /* a resumed run may use another value (dk_config_check_resume) */
    const char *doc;
} dk_key_spec;

/* The tables' lengths; dk_config_schema.c does not compile when they are wrong. */
enum { DK_CONFIG_N_KEYS = 66, DK_CONFIG_N_SECTIONS = 10 };
extern const dk_key_spec dk_config_keys[];
extern const char *const dk_config_sections[]; /* in the printed order */

/* Indices into the tables, or -1. */
int dk_config_find_section(const char *name);
int dk_config_find_key(const char *section, const char *key);
/* The sections other than skip_section that hold the key, as "[train], [lbfgs] or [grid]"
 * in buf; how many. */
int dk_config_sections_with_key(const char *key, const char *skip_section, char *buf, size_t n);
/* What [fit] function and [pde] problem accept, as "one of: ..." */
void dk_config_expect_function(char *buf, size_t n);
void dk_config_expect_problem(char *buf, size_t n);

/* Copies [begin, end) without surrounding whitespace; false if it does not fit. */
bool dk_config_copy_trimmed(char *dst, size_t cap, const char *begin, const char *end);
/* Shortest %g form that reads back as the same double. */
void dk_config_format_double(double v, char *buf, size_t n);
/* What a key accepts, as a phrase that completes "expected ...". */
void dk_config_describe_key(const dk_key_spec *s, char *buf, size_t n);
/* The key's value in cfg as the INI text that reads back to it. */
void dk_config_format_key(const dk_key_spec *s, const dk_config *cfg, char *buf, size_t n);
/* Sets one key from its text; `where` ("fit.ini:7" or "--set train.lr=x") leads the
 * error message. */
dk_err dk_config_set_key(dk_config *cfg, const dk_key_spec *s, const char *value, const char *where);
/* Usage errors for a name not in the tables, with a suggestion when one is close. */
dk_err dk_config_unknown_section(const char *where, const char *name);
dk_err dk_config_unknown_key(const char *where, const char *section, const char *key);

/* One file being read, and where each key got its value. */
typedef struct dk_config_load_state {
    dk_config *cfg;
    const char *path;
    FILE *file;
    char line[1024];     /* the current line; far longer than inih's limit */
    int lineno;          /* lines handed to inih so far = inih's own count */
    bool failed;         /* an error is recorded; stop reading */
    int fail_line;       /* the line that caused it (inih never sees lines after it) */
    /* Where each key got its value, for "set twice" and cross-key messages:
     * 0 = default, > 0 = file line, < 0 = -(1 + index of the --set override). */
    int from[DK_CONFIG_N_KEYS];
    const char *const *overrides;
    bool user_file;      /* a file a person wrote, not a stored configuration */
    bool written;        /* a configuration distkan wrote (DK_CONFIG_WRITTEN_HEADER on line 1 or 2) */
} dk_config_load_state;

/* The first line of every configuration distkan writes (config.ini, checkpoints). */
#define DK_CONFIG_WRITTEN_HEADER "# distkan configuration: every key with the value the run used."

/* Lines "[pde] dim (line 9), a1 (--set) set but not used: <why>" in notes[cap] (empty
 * when none) for the keys a person set that the resolved configuration never reads
 * (dk_config_unused.c); the file is named when they are printed. */
void dk_config_note_unread(const dk_config_load_state *st, char *notes, size_t cap);

/* The rules across keys (dk_config_rules.c); may set [model] grid from [grid] schedule. */
dk_err dk_config_check_rules(const dk_config_load_state *st);

#endif
