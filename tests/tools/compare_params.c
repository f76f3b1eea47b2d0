/* compare_params A.bin B.bin float64|float32 REL_TOL
 *
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

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: compare_params A.bin B.bin float64|float32 REL_TOL\n");
        return 2;
    }
    long na, nb;
    unsigned char *a = slurp("compare_params", argv[1], &na), *b = slurp("compare_params", argv[2], &nb);
    int f64 = strcmp(argv[3], "float64") == 0;
    double tol = atof(argv[4]);
    size_t es = f64 ? 8 : 4;
    if (na != nb || na % (long)es != 0 || na == 0) {
        fprintf(stderr, "compare_params: sizes differ or are not whole elements: %ld vs %ld bytes\n", na, nb);
        return 1;
    }
    if (tol == 0.0) {
        int same = memcmp(a, b, (size_t)na) == 0;
        printf("%s: %ld bytes %s\n", same ? "identical" : "DIFFERENT", na, same ? "match" : "differ");
        return same ? 0 : 1;
    }
    size_t n = (size_t)na / es;
    double max_diff = 0.0, max_abs = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x, y;
        if (f64) {
            memcpy(&x, a + i * 8, 8);
            memcpy(&y, b + i * 8, 8);
        } else {
            float fx, fy;
            memcpy(&fx, a + i * 4, 4);
            memcpy(&fy, b + i * 4, 4);
            x = fx;
            y = fy;
        }
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
