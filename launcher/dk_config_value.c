/* One key's value: parsed and checked against its schema entry, described for error
 * messages, and formatted back to the text that reads back to the same value. */
#include "dk_config_schema.h"

#include "../common/dk_edit_distance.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A suggestion is worth making only when it is much closer than a random word. Case is
 * ignored: names are lower case, and "LR" means lr. */
static bool close_enough(const char *typed, const char *candidate)
{
    int d = dk_edit_distance(typed, candidate);
    return d <= 2 && (size_t)d < strlen(candidate);
}

bool dk_config_copy_trimmed(char *dst, size_t cap, const char *begin, const char *end)
{
    while (begin < end && isspace((unsigned char)*begin))
        begin++;
    while (end > begin && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - begin);
    if (n >= cap)
        return false;
    memcpy(dst, begin, n);
    dst[n] = '\0';
    return true;
}

typedef enum { INT_OK, INT_NOT_INTEGER, INT_OVERFLOW } int_parse;

static int_parse parse_integer(const char *s, long long *out)
{
    if (!*s)
        return INT_NOT_INTEGER;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end)
        return INT_NOT_INTEGER;
    if (errno == ERANGE)
        return INT_OVERFLOW;
    *out = v;
    return INT_OK;
}

/* Underflow (1e-400) is accepted as the nearest double and left to the range check;
 * overflow, NaN and infinities are not numbers here. */
static bool parse_number(const char *s, double *out)
{
    if (!*s)
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return false;
    *out = v;
    return true;
}

/* Whether a number that parsed underflowed: strtod flags results below the normal range. */
static bool underflows(const char *s)
{
    errno = 0;
    const double v = strtod(s, NULL);
    return errno == ERANGE && fabs(v) < DBL_MIN;
}

static bool in_range(const dk_key_spec *s, double v)
{
    if (s->range & DK_RANGE_MIN) {
        if ((s->range & DK_RANGE_MIN_OPEN) ? !(v > s->dmin) : !(v >= s->dmin))
            return false;
    }
    if (s->range & DK_RANGE_MAX) {
        if ((s->range & DK_RANGE_MAX_OPEN) ? !(v < s->dmax) : !(v <= s->dmax))
            return false;
    }
    return true;
}

/* The upper bound an int field can hold, whatever the schema says. */
static long long type_max(const dk_key_spec *s) { return s->size == sizeof(int) ? INT_MAX : LLONG_MAX; }

/* Written configs then round-trip exactly and still look like what a person would type. */
void dk_config_format_double(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* 1000, not 1e+03 */
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void store_integer(const dk_key_spec *s, void *field, long long v)
{
    if (s->size == sizeof(int)) {
        int x = (int)v;
        memcpy(field, &x, sizeof x);
    } else {
        /* long and unsigned long long fields: same width and, for values in
         * [0, LLONG_MAX] or any long, the same representation. */
        _Static_assert(sizeof(long) == sizeof(long long), "long fields are stored as long long");
        memcpy(field, &v, sizeof v);
    }
}

static long long load_integer(const dk_key_spec *s, const void *field)
{
    if (s->size == sizeof(int)) {
        int x;
        memcpy(&x, field, sizeof x);
        return x;
    }
    long long v;
    memcpy(&v, field, sizeof v);
    return v;
}

void dk_config_describe_key(const dk_key_spec *s, char *buf, size_t n)
{
    switch (s->type) {
    case DK_KEY_INT:
        if (s->imax < type_max(s))
            snprintf(buf, n, "an integer in [%lld, %lld]", s->imin, s->imax);
        else
            snprintf(buf, n, "an integer >= %lld", s->imin);
        return;
    case DK_KEY_DOUBLE: {
        char lo[32], hi[32];
        dk_config_format_double(s->dmin, lo, sizeof lo);
        dk_config_format_double(s->dmax, hi, sizeof hi);
        if ((s->range & DK_RANGE_MIN) && (s->range & DK_RANGE_MAX))
            snprintf(buf, n, "a number in %c%s, %s%c", (s->range & DK_RANGE_MIN_OPEN) ? '(' : '[', lo, hi,
                     (s->range & DK_RANGE_MAX_OPEN) ? ')' : ']');
        else if (s->range & DK_RANGE_MIN)
            snprintf(buf, n, "a number %s %s", (s->range & DK_RANGE_MIN_OPEN) ? ">" : ">=", lo);
        else if (s->range & DK_RANGE_MAX)
            snprintf(buf, n, "a number %s %s", (s->range & DK_RANGE_MAX_OPEN) ? "<" : "<=", hi);
        else
            snprintf(buf, n, "a finite number");
        return;
    }
    case DK_KEY_ENUM: {
        size_t used = (size_t)snprintf(buf, n, "one of: ");
        for (int i = 0; s->names[i] && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", s->names[i]);
        return;
    }
    case DK_KEY_BOOL:
        snprintf(buf, n, "true or false");
        return;
    case DK_KEY_STRING:
        if (s->expect)
            s->expect(buf, n);
        else
            snprintf(buf, n, "text shorter than %zu characters", s->size);
        return;
    case DK_KEY_INT_LIST:
        if (s->imax < INT_MAX)
            snprintf(buf, n, "a comma-separated list of %d to %d integers, each in [%lld, %lld]", s->min_count,
                     s->max_count, s->imin, s->imax);
        else
            snprintf(buf, n, "a comma-separated list of %d to %d integers, each >= %lld", s->min_count,
                     s->max_count, s->imin);
        return;
    case DK_KEY_DOUBLE_PAIR:
        snprintf(buf, n, "two finite numbers lo,hi with lo < hi");
        return;
    }
    snprintf(buf, n, "?");
}

/* One parser per key type: each parses `value` into `field` and returns whether it could;
 * on failure the field is unchanged and `detail` may receive a parenthesized reason
 * appended to the expectation. */

static bool parse_int_key(const dk_key_spec *s, const char *value, void *field, char *detail, size_t dn)
{
    long long v = 0;
    int_parse r = parse_integer(value, &v);
    double d;
    if (r == INT_NOT_INTEGER) {
        if (parse_number(value, &d)) /* 1e3, 2.0: numbers, but not written as integers */
            snprintf(detail, dn, " (write integers in plain digits, without exponent or decimal point)");
        return false;
    }
    if (r == INT_OVERFLOW || v < s->imin || v > s->imax || v > type_max(s)) {
        /* The expectation does not show a bound that is only the field's type limit. */
        if (s->imax >= type_max(s) && (r == INT_OVERFLOW ? value[0] != '-' : v > type_max(s)))
            snprintf(detail, dn, " (at most %lld)", type_max(s));
        return false;
    }
    store_integer(s, field, v);
    return true;
}

static bool parse_double_key(const dk_key_spec *s, const char *value, void *field, char *detail, size_t dn)
{
    double v;
    if (!parse_number(value, &v))
        return false;
    if (!in_range(s, v)) {
        /* 1e-400 for a key that must be > 0: say why a positive number is refused. */
        if (underflows(value))
            snprintf(detail, dn, " (%s is below the smallest double, %.3g, and reads as %g)", value, DBL_MIN, v);
        return false;
    }
    memcpy(field, &v, sizeof v);
    return true;
}

static bool parse_enum_key(const dk_key_spec *s, const char *value, void *field)
{
    for (int i = 0; s->names[i]; i++)
        if (strcmp(value, s->names[i]) == 0) {
            memcpy(field, &i, sizeof i);
            return true;
        }
    return false;
}

static bool parse_bool_key(const char *value, void *field)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(value, yes[i]) || !strcmp(value, no[i])) {
            bool b = !strcmp(value, yes[i]);
            memcpy(field, &b, sizeof b);
            return true;
        }
    return false;
}

static bool parse_string_key(const dk_key_spec *s, const char *value, void *field, char *detail, size_t dn)
{
    size_t len = strlen(value);
    if (len >= s->size) {
        snprintf(detail, dn, " (too long: %zu characters, at most %zu)", len, s->size - 1);
        return false;
    }
    if (s->accepts && !s->accepts(value))
        return false;
    /* Zero the whole field so that equal configurations compare equal bytewise. */
    memset(field, 0, s->size);
    memcpy(field, value, len);
    return true;
}

/* The list's entries go to `field`, their count to cfg's count_offset field. */
static bool parse_int_list_key(const dk_key_spec *s, const char *value, dk_config *cfg, void *field, char *detail,
                               size_t dn)
{
    int tmp[DK_MAX_LAYERS + 1];
    int count = 0;
    if (!value[0] && s->min_count > 0)
        return false;
    if (!value[0]) {
        memset(field, 0, s->size);
        memcpy((char *)cfg + s->count_offset, &count, sizeof count);
        return true;
    }
    for (const char *p = value;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        char token[32];
        long long v = 0;
        if (count == s->max_count) {
            snprintf(detail, dn, " (more than %d entries)", s->max_count);
            return false;
        }
        if (!dk_config_copy_trimmed(token, sizeof token, p, end)) {
            snprintf(detail, dn, " (entry %d is not an integer)", count + 1);
            return false;
        }
        if (!token[0]) {
            snprintf(detail, dn, " (entry %d is empty)", count + 1);
            return false;
        }
        int_parse r = parse_integer(token, &v);
        if (r == INT_NOT_INTEGER) {
            snprintf(detail, dn, " (entry %d, '%s', is not an integer)", count + 1, token);
            return false;
        }
        if (r == INT_OVERFLOW || v > INT_MAX || v > s->imax) {
            snprintf(detail, dn, " (entry %d, %s, is too large)", count + 1, token);
            return false;
        }
        if (v < s->imin) {
            snprintf(detail, dn, " (entry %d is %s)", count + 1, token);
            return false;
        }
        tmp[count++] = (int)v;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (count < s->min_count) {
        snprintf(detail, dn, " (found %d entr%s)", count, count == 1 ? "y" : "ies");
        return false;
    }
    memset(field, 0, s->size);
    memcpy(field, tmp, (size_t)count * sizeof tmp[0]);
    memcpy((char *)cfg + s->count_offset, &count, sizeof count);
    return true;
}

static bool parse_double_pair_key(const char *value, void *field, char *detail, size_t dn)
{
    const char *comma = strchr(value, ',');
    char a[64], b[64];
    double pair[2];
    if (!comma || strchr(comma + 1, ',')) {
        if (value[0])
            snprintf(detail, dn, " (found %s)", comma ? "more than two entries" : "one entry");
        return false;
    }
    if (!dk_config_copy_trimmed(a, sizeof a, value, comma) ||
        !dk_config_copy_trimmed(b, sizeof b, comma + 1, comma + strlen(comma)) || !parse_number(a, &pair[0]) ||
        !parse_number(b, &pair[1]))
        return false;
    if (!(pair[0] < pair[1])) {
        snprintf(detail, dn, " (lo is not below hi)");
        return false;
    }
    memcpy(field, pair, sizeof pair);
    return true;
}

/* Parses `value` into the key's field of cfg, by the key's type. */
static bool parse_into(const dk_key_spec *s, const char *value, dk_config *cfg, char *detail, size_t dn)
{
    void *field = (char *)cfg + s->offset;
    detail[0] = '\0';
    switch (s->type) {
    case DK_KEY_INT:
        return parse_int_key(s, value, field, detail, dn);
    case DK_KEY_DOUBLE:
        return parse_double_key(s, value, field, detail, dn);
    case DK_KEY_ENUM:
        return parse_enum_key(s, value, field);
    case DK_KEY_BOOL:
        return parse_bool_key(value, field);
    case DK_KEY_STRING:
        return parse_string_key(s, value, field, detail, dn);
    case DK_KEY_INT_LIST:
        return parse_int_list_key(s, value, cfg, field, detail, dn);
    case DK_KEY_DOUBLE_PAIR:
        return parse_double_pair_key(value, field, detail, dn);
    }
    return false;
}

void dk_config_format_key(const dk_key_spec *s, const dk_config *cfg, char *buf, size_t n)
{
    const void *field = (const char *)cfg + s->offset;
    buf[0] = '\0';
    switch (s->type) {
    case DK_KEY_INT:
        snprintf(buf, n, "%lld", load_integer(s, field));
        return;
    case DK_KEY_DOUBLE: {
        double v;
        memcpy(&v, field, sizeof v);
        dk_config_format_double(v, buf, n);
        return;
    }
    case DK_KEY_ENUM: {
        int v, count = 0;
        memcpy(&v, field, sizeof v);
        while (s->names[count])
            count++;
        snprintf(buf, n, "%s", v >= 0 && v < count ? s->names[v] : "?");
        return;
    }
    case DK_KEY_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, n, "%s", b ? "true" : "false");
        return;
    }
    case DK_KEY_STRING:
        snprintf(buf, n, "%.*s", (int)s->size, (const char *)field);
        return;
    case DK_KEY_INT_LIST: {
        int count, v;
        memcpy(&count, (const char *)cfg + s->count_offset, sizeof count);
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < count && used < n; i++) {
            memcpy(&v, (const char *)field + (size_t)i * sizeof v, sizeof v);
            used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", v);
        }
        return;
    }
    case DK_KEY_DOUBLE_PAIR: {
        double pair[2];
        char a[32], b[32];
        memcpy(pair, field, sizeof pair);
        dk_config_format_double(pair[0], a, sizeof a);
        dk_config_format_double(pair[1], b, sizeof b);
        snprintf(buf, n, "%s,%s", a, b);
        return;
    }
    }
}

dk_err dk_config_set_key(dk_config *cfg, const dk_key_spec *s, const char *value, const char *where)
{
    /* A newline (--set "a.b=x<newline>c = d") would become a line of its own in config.ini
     * and the checkpoints; other control characters have no place in any value either. */
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (dk_config_is_control(*p) && *p != '\t')
            DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s: the value contains a control character (byte 0x%02X at position %d)",
                     where, s->section, s->key, *p, (int)((const char *)p - value) + 1);
    char detail[256];
    if (parse_into(s, value, cfg, detail, sizeof detail))
        return DK_OK;
    char expect[1024];
    dk_config_describe_key(s, expect, sizeof expect);
    /* inih only strips ';' comments, so "lr = 0.1  # note" arrives with the note. */
    const char *hint =
        strstr(value, " #") || strstr(value, "\t#") ? " (inline comments start with ';', not '#')" : "";
    DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s = '%s': expected %s%s%s", where, s->section, s->key, value, expect, detail,
             hint);
}

dk_err dk_config_unknown_section(const char *where, const char *name)
{
    char known[256] = "", hint[128] = "";
    size_t used = 0;
    for (int i = 0; i < DK_CONFIG_N_SECTIONS; i++) {
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", dk_config_sections[i]);
        if (!hint[0] && close_enough(name, dk_config_sections[i]))
            snprintf(hint, sizeof hint, "; did you mean [%s]?", dk_config_sections[i]);
    }
    DK_ERROR(DK_ERR_USAGE, "%s: unknown section [%s]%s (known sections: %s)", where, name, hint, known);
}

dk_err dk_config_unknown_key(const char *where, const char *section, const char *key)
{
    char known[1024] = "", hint[320] = "";
    size_t used = 0;
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
        if (strcmp(dk_config_keys[i].section, section) != 0)
            continue;
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", dk_config_keys[i].key);
        if (!hint[0] && close_enough(key, dk_config_keys[i].key))
            snprintf(hint, sizeof hint, "; did you mean '%s'?", dk_config_keys[i].key);
    }
    char sections[256];
    if (dk_config_sections_with_key(key, section, sections, sizeof sections) > 0)
        snprintf(hint, sizeof hint, "; it belongs in section %s", sections);
    DK_ERROR(DK_ERR_USAGE, "%s: unknown key '%s' in section [%s]%s (known keys: %s)", where, key, section, hint,
             known);
}
