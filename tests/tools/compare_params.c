/* compare_params A.bin B.bin DTYPE REL_TOL
 *
 * DTYPE is float64 or float32 (both files), or float32/float64 (A in float32, B in float64:
 * a float32 run against the float64 run of the same config, its reference).
 * Compares two final_params.bin files element by element and exits 0 when
 *   max_i |a_i - b_i| / max(max_i |a_i|, tiny) <= REL_TOL,
 * i.e. the largest difference relative to the largest parameter (a per-element ratio
 * would make parameters that happen to be near zero dominate). REL_TOL = 0 demands
 * identical bytes. Prints the measured figure either way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"

static double load(const unsigned char *p, size_t i, size_t size)
{
    if (size == 8) {
        double v;
        memcpy(&v, p + i * 8, 8);
        return v;
    }
    float v;
    memcpy(&v, p + i * 4, 4);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: compare_params A.bin B.bin float64|float32|float32/float64 REL_TOL\n");
        return 2;
    }
    long na, nb;
    unsigned char *a = slurp("compare_params", argv[1], &na), *b = slurp("compare_params", argv[2], &nb);
    size_t ea, eb;
    if (!strcmp(argv[3], "float64"))
        ea = eb = 8;
    else if (!strcmp(argv[3], "float32"))
        ea = eb = 4;
    else if (!strcmp(argv[3], "float32/float64"))
        ea = 4, eb = 8;
    else {
        fprintf(stderr, "compare_params: DTYPE %s: expected float64, float32 or float32/float64\n", argv[3]);
        return 2;
    }
    double tol = atof(argv[4]);
    if (na % (long)ea != 0 || nb % (long)eb != 0 || na / (long)ea != nb / (long)eb || na == 0) {
        fprintf(stderr, "compare_params: sizes differ or are not whole elements: %ld vs %ld bytes\n", na, nb);
        return 1;
    }
    if (tol == 0.0) {
        int same = na == nb && memcmp(a, b, (size_t)na) == 0;
        printf("%s: %ld bytes %s\n", same ? "identical" : "DIFFERENT", na, same ? "match" : "differ");
        return same ? 0 : 1;
    }
    size_t n = (size_t)na / ea;
    double max_diff = 0.0, max_abs = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x = load(a, i, ea), y = load(b, i, eb);
        if (!isfinite(x) || !isfinite(y)) {
            printf("non-finite parameter at element %zu\n", i);
            return 1;
        }
        double d = fabs(x - y);
        if (d > max_diff) {
            max_diff = d;
            worst = i;
        }
        if (fabs(x) > max_abs)
            max_abs = fabs(x);
    }
    double rel = max_diff / (max_abs > 1e-300 ? max_abs : 1e-300);
    printf("%zu parameters: max |diff| %.3e at element %zu, relative to max |param| %.3e: %.3e (tolerance %.1e)\n", n,
           max_diff, worst, max_abs, rel, tol);
    return rel <= tol ? 0 : 1;
}
