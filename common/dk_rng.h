/* Counter-based random numbers.
 *
 * Every draw is a pure function of (seed, stream, index): no generator state to carry,
 * so the numbers a rank draws for global sample g are the same whatever the world size,
 * and a checkpoint needs only counters to resume exactly.
 *
 * The mixer is SplitMix64's finaliser applied to a combination of the three inputs
 * (Steele, Lea, Flood: "Fast splittable pseudorandom number generators", OOPSLA 2014);
 * its output passes BigCrush when driven by a counter.
 */
#ifndef DK_RNG_H
#define DK_RNG_H

#include <stdint.h>

/* Streams: one per purpose, so adding a draw in one place never shifts another. */
enum {
    DK_STREAM_INIT_NOISE = 1,      /* spline coefficient noise at initialisation */
    DK_STREAM_INIT_SCALE_BASE = 2, /* scale_base at initialisation */
    DK_STREAM_FIT_TRAIN = 3,       /* built-in function samples, training set */
    DK_STREAM_FIT_TEST = 4,        /* built-in function samples, test set */
    DK_STREAM_CSV_SPLIT = 5,       /* train/test permutation of CSV rows */
    DK_STREAM_PDE_INTERIOR = 6,    /* PDE interior collocation points */
    DK_STREAM_PDE_BOUNDARY = 7,    /* PDE boundary collocation points */
    DK_STREAM_PDE_SHIFT = 8,       /* Halton random shifts */
    DK_STREAM_PDE_EVAL = 9,        /* PDE evaluation points (dimensions above 3) */
    DK_STREAM_PDE_PROBE = 10,      /* PDE points that measure the exact solution's size */
    DK_STREAM_PDE_SCRAMBLE = 11    /* Halton digit permutations */
};

uint64_t dk_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform on [0, 1) with 53 random bits. */
double dk_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method). */
uint64_t dk_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n);

#endif
