#include "dk_run_formats.h"

#include <stdlib.h>
#include <string.h>

#include "dk_run_files.h"

void dk_log_event_write(FILE *f, long step, const char *event, int grid, int n_fields, const char *const *names,
                        const double *values, double wall_s)
{
    fprintf(f, "{\"step\": %ld, \"event\": \"%s\", \"grid\": %d", step, event, grid);
    for (int i = 0; i < n_fields; i++)
        dk_json_field(f, ", ", names[i], values[i]);
    dk_json_field(f, ", ", "wall_s", wall_s);
    fputs("}\n", f);
}

/* The checkpoint line's fields after its grid, in the order written. The reader below
 * wants "bytes" right after "grid", and finds "writer" wherever it is (lines of versions
 * that recorded no writer have none). */
#define CKPT_EVENT_HEAD "{\"step\": %ld, \"event\": \"checkpoint\", \"grid\": %d, \"bytes\": %llu,"
#define CKPT_EVENT_WRITER ", \"writer\": "

void dk_log_ckpt_event_write(FILE *f, const dk_log_ckpt_event *e, double seconds, double wall_s)
{
    const char *const names[] = {"bytes", "seconds", "writer"};
    const double values[] = {(double)e->bytes, seconds, (double)e->writer}; /* below 2^53: exact */
    dk_log_event_write(f, e->step, "checkpoint", e->grid, 3, names, values, wall_s);
}

bool dk_log_ckpt_event_parse(const char *line, dk_log_ckpt_event *e)
{
    long step = -1;
    int grid = 0;
    unsigned long long bytes = 0, writer = 0;
    if (sscanf(line, CKPT_EVENT_HEAD, &step, &grid, &bytes) != 3)
        return false;
    const char *field = strstr(line, CKPT_EVENT_WRITER);
    if (field && sscanf(field, CKPT_EVENT_WRITER "%llu", &writer) != 1)
        return false;
    *e = (dk_log_ckpt_event){.step = step, .grid = grid, .bytes = bytes, .writer = writer};
    return true;
}

/* The separator before it included: "steps" at the start of a line indented by two
 * spaces is the top level's; a stage's follows ", " on its stage's line. */
#define SUMMARY_STEPS "\n  \"steps\": "

void dk_summary_steps_write(FILE *f, long steps) { fprintf(f, "," SUMMARY_STEPS "%ld", steps); }

long dk_summary_steps_read(const char *text)
{
    const char *at = strstr(text, SUMMARY_STEPS);
    if (!at)
        return -1;
    const char *digits = at + strlen(SUMMARY_STEPS);
    char *end = NULL;
    const long steps = strtol(digits, &end, 10);
    return end != digits && steps >= 0 ? steps : -1;
}
