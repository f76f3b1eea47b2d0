/* Whole-file reading for the test tools: a tool that cannot read its input exits 2 (usage),
 * never 1, so a test can tell "the files differ" from "the files are missing". */
#ifndef DK_TEST_TOOLS_SLURP_H
#define DK_TEST_TOOLS_SLURP_H

#include <stdio.h>
#include <stdlib.h>

static unsigned char *slurp(const char *tool, const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s\n", tool, path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)*size + 1);
    if (!buf || fread(buf, 1, (size_t)*size, f) != (size_t)*size) {
        fprintf(stderr, "%s: cannot read %s\n", tool, path);
        exit(2);
    }
    fclose(f);
    return buf;
}

#endif
