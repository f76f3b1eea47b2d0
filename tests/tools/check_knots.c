/* check_knots STATE.bin float64|float32 N_LAYERS {KNOTS_OFFSET IN N_KNOTS} x N_LAYERS
 *
 * Checks the knot vectors of a final_state.bin: for every layer (offset in elements and
 * sizes from summary.json's final_state_layout and final_params_layout), the IN rows of
 * N_KNOTS knots must be finite and strictly increasing. Prints one line per input,
 *   layer L input I: knots [FIRST, LAST]
 * (%.17g, for the scripts to compare against the data range) and exits 0 when every row
 * passes, 1 when one does not (naming it), 2 on a usage or file error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"

int main(int argc, char **argv)
{
    if (argc < 4 || argc != 4 + 3 * atoi(argv[3]) || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: check_knots STATE.bin float64|float32 N_LAYERS {KNOTS_OFFSET IN N_KNOTS}...\n");
        return 2;
    }
    long size;
    unsigned char *s = slurp("check_knots", argv[1], &size);
    const int f64 = strcmp(argv[2], "float64") == 0;
    const size_t es = f64 ? 8 : 4;
    const int n_layers = atoi(argv[3]);
    int bad = 0;
    for (int l = 0; l < n_layers; l++) {
        const long off = atol(argv[4 + 3 * l]), in = atol(argv[5 + 3 * l]), nk = atol(argv[6 + 3 * l]);
        if (off < 0 || in < 1 || nk < 2 || (size_t)(off + in * nk) * es > (size_t)size) {
            fprintf(stderr, "check_knots: layer %d: offset %ld, %ld inputs of %ld knots do not fit in %ld bytes\n", l,
                    off, in, nk, size);
            return 2;
        }
        for (long i = 0; i < in; i++) {
            double prev = -INFINITY, first = NAN, last = NAN;
            for (long m = 0; m < nk; m++) {
                const size_t e = (size_t)(off + i * nk + m);
                double t;
                if (f64) {
                    memcpy(&t, s + e * 8, 8);
                } else {
                    float ft;
                    memcpy(&ft, s + e * 4, 4);
                    t = ft;
                }
                if (!isfinite(t) || !(t > prev)) {
                    printf("layer %d input %ld: knot %ld is %.17g after %.17g: not finite and strictly increasing\n", l,
                           i, m, t, prev);
                    bad = 1;
                }
                if (m == 0)
                    first = t;
                last = t;
                prev = t;
            }
            printf("layer %d input %ld: knots [%.17g, %.17g]\n", l, i, first, last);
        }
    }
    free(s);
    return bad;
}
