#include "dk_edit_distance.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

int dk_edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    const size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX || lb >= MAX)
        return INT_MAX;
    char x[MAX], y[MAX];
    for (size_t i = 0; i < la; i++)
        x[i] = (char)tolower((unsigned char)a[i]);
    for (size_t j = 0; j < lb; j++)
        y[j] = (char)tolower((unsigned char)b[j]);
    int d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (x[i - 1] != y[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}
