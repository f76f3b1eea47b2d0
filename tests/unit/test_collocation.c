/* Collocation points: radical inverses against hand values and an independent digit
 * expansion, the documented Halton and uniform formulas, points inside the box and on faces
 * with data only, purity (any order, any split over ranks), and low discrepancy. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "tasks/dk_collocation.h"

static const double pi = 3.14159265358979323846;
static const dk_sampling samplings[] = {DK_SAMPLING_UNIFORM, DK_SAMPLING_HALTON};

/* The a-th prime (a = 0 -> 2) by trial division, independent of the library's table. */
static int nth_prime(int a)
{
    for (int n = 2;; n++) {
        bool prime = true;
        for (int q = 2; q * q <= n; q++)
            if (n % q == 0) {
                prime = false;
                break;
            }
        if (prime && a-- == 0)
            return n;
    }
}

/* phi_b(n) by the textbook floating-point digit expansion, in long double. */
static double radical_inverse_ref(long n, int b)
{
    long double r = 0.0L, f = 1.0L / b;
    for (; n > 0; n /= b, f /= b)
        r += f * (n % b);
    return (double)r;
}

/* The library's points through one generator per (sampling, seed, box), as the PDE task
 * keeps one: created on first use, set to each call's epoch. */
static dk_collocation *generator(dk_sampling sampling, unsigned long long seed, long epoch, const dk_box *box)
{
    static dk_collocation *c;
    static dk_sampling c_sampling;
    static unsigned long long c_seed;
    static dk_box c_box;
    if (!c || c_sampling != sampling || c_seed != seed || memcmp(&c_box, box, sizeof c_box) != 0) {
        dk_collocation_destroy(&c);
        assert_int_equal(dk_collocation_create(&c, sampling, seed, box), DK_OK);
        c_sampling = sampling;
        c_seed = seed;
        c_box = *box;
    }
    dk_collocation_set_epoch(c, epoch);
    return c;
}

static void interior(dk_sampling sampling, unsigned long long seed, long epoch, const dk_box *box, long index,
                     double *x)
{
    dk_collocation_interior(generator(sampling, seed, epoch, box), index, x);
}

static void boundary(dk_sampling sampling, unsigned long long seed, long epoch, const dk_box *box, long index,
                     double *x)
{
    dk_collocation_boundary(generator(sampling, seed, epoch, box), index, x);
}

/* The first 1024 primes by trial division (as nth_prime), computed once. */
static const int *prime_table(void)
{
    static int table[DK_COLLOCATION_MAX_HALTON_DIM];
    for (int n = 2, a = 0; !table[DK_COLLOCATION_MAX_HALTON_DIM - 1]; n++) {
        bool prime = true;
        for (int q = 2; q * q <= n && prime; q++)
            prime = n % q != 0;
        if (prime)
            table[a++] = n;
    }
    return table;
}

/* The documented permutation of base p_a's digits for coordinate a (digit 0 fixed; a
 * Fisher-Yates shuffle of 1 .. p_a - 1 with u = U(seed, DK_STREAM_PDE_SCRAMBLE, (epoch << 22)
 * + P_a + i), P_a the sum of the bases before a), rebuilt here from that description. */
static void documented_permutation(unsigned long long seed, long epoch, int a, int *perm)
{
    const int *prime = prime_table();
    uint64_t before = 0;
    for (int c = 0; c < a; c++)
        before += (uint64_t)prime[c];
    const int b = prime[a];
    for (int d = 0; d < b; d++)
        perm[d] = d;
    for (int i = b - 1; i >= 2; i--) {
        double u = dk_rng_uniform(seed, DK_STREAM_PDE_SCRAMBLE, ((uint64_t)epoch << 22) + before + (uint64_t)i);
        int j = 1 + (int)floor(u * i);
        if (j > i)
            j = i;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* The scrambled radical inverse by the floating-point digit expansion, in long double. */
static double scrambled_ref(long n, int b, const int *perm)
{
    long double r = 0.0L, f = 1.0L / b;
    for (; n > 0; n /= b, f /= b)
        r += f * perm[n % b];
    return (double)r;
}

static void test_radical_inverse_matches_hand_values(void **state)
{
    assert_true(dk_collocation_radical_inverse(0, 2) == 0.0);
    const double base2[] = {0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875, 0.0625};
    for (int i = 0; i < 8; i++)
        assert_true(dk_collocation_radical_inverse(i + 1, 2) == base2[i]);
    const double base3[] = {1.0 / 3, 2.0 / 3, 1.0 / 9, 4.0 / 9, 7.0 / 9, 2.0 / 9};
    for (int i = 0; i < 6; i++)
        assert_true(dk_collocation_radical_inverse(i + 1, 3) == base3[i]);
    /* 2^62 is a 1 followed by 62 zeros: reversed, 2^-63. */
    assert_true(dk_collocation_radical_inverse(1L << 62, 2) == 0x1p-63);
    /* 7 = 12_5 -> 2/5 + 1/25 = 11/25; 8161 = 10_8161 -> 1/8161^2 */
    assert_true(dk_collocation_radical_inverse(7, 5) == 11.0 / 25.0);
    assert_true(dk_collocation_radical_inverse(8161, 8161) == 1.0 / (8161.0 * 8161.0));
    /* Large indices and bases against the independent expansion. */
    const int bases[] = {2, 3, 5, 7, 97, 8161};
    for (int k = 0; k < 6; k++)
        for (long n = 1; n < (1L << 62); n = n * 7 + 3) {
            double got = dk_collocation_radical_inverse(n, bases[k]);
            double want = radical_inverse_ref(n, bases[k]);
            if (!(fabs(got - want) <= 1e-15 * want))
                fail_msg("phi_%d(%ld) = %.17g, want %.17g", bases[k], n, got, want);
            assert_true(got >= 0.0 && got < 1.0);
        }
}

static void test_halton_follows_the_documented_scrambled_sequence(void **state)
{
    /* x_a = lo_a + (hi_a - lo_a) frac(phi_{p_a, pi_a}(index + 1) + shift_a), p_a the a-th
     * prime, pi_a the documented digit permutation, shift_a = U(seed, DK_STREAM_PDE_SHIFT,
     * epoch * 1024 + a). All 1024 coordinates: this also checks the library's prime table. */
    enum { D = DK_COLLOCATION_MAX_HALTON_DIM };
    static double lo[D], hi[D], x[D];
    static bool face[2 * D];
    static int perm[8161];
    const int *prime = prime_table();
    for (int a = 0; a < D; a++) {
        lo[a] = -1.0 - a % 3;
        hi[a] = 2.0 + a % 5;
    }
    assert_int_equal(prime[D - 1], 8161);
    dk_box box = {.dim = D, .lo = lo, .hi = hi, .face = face};
    const unsigned long long seed = 42;
    static double got[3][5][D];
    for (long epoch = 0; epoch < 3; epoch++)
        for (long index = 0; index < 5; index++)
            interior(DK_SAMPLING_HALTON, seed, epoch, &box, index * 1000, got[epoch][index]);
    int scrambled = 0; /* coordinates whose permutation is not the identity */
    for (long epoch = 0; epoch < 3; epoch++)
        for (int a = 0; a < D; a++) {
            documented_permutation(seed, epoch, a, perm);
            for (int d = 0; d < prime[a]; d++)
                scrambled += epoch == 0 && perm[d] != d && d == 1;
            double s = dk_rng_uniform(seed, DK_STREAM_PDE_SHIFT, (uint64_t)epoch * D + (uint64_t)a);
            for (long index = 0; index < 5; index++) {
                double u = fmod(scrambled_ref(index * 1000 + 1, prime[a], perm) + s, 1.0);
                double want = lo[a] + (hi[a] - lo[a]) * u;
                if (!(fabs(got[epoch][index][a] - want) <= 1e-14 * (hi[a] - lo[a])))
                    fail_msg("epoch %ld index %ld coordinate %d: %.17g, want %.17g", epoch, index * 1000, a,
                             got[epoch][index][a], want);
            }
        }
    /* Base 2 has one nonzero digit, base 3 two: almost every larger base moves digit 1. */
    assert_true(scrambled > D - 10);
    (void)x;
}

static void test_uniform_follows_the_documented_counter(void **state)
{
    double lo[3] = {-1.0, 2.0, 0.0}, hi[3] = {1.0, 5.0, 1e-3}, x[3];
    bool face[6] = {true, true, true, true, true, true};
    dk_box box = {.dim = 3, .lo = lo, .hi = hi, .face = face};
    for (long epoch = 0; epoch < 3; epoch++)
        for (long index = 0; index < 50; index += 7) {
            interior(DK_SAMPLING_UNIFORM, 9, epoch, &box, index, x);
            for (int a = 0; a < 3; a++) {
                uint64_t counter = ((uint64_t)epoch << 40) + (uint64_t)index * 3 + (uint64_t)a;
                double u = dk_rng_uniform(9, DK_STREAM_PDE_INTERIOR, counter);
                assert_true(x[a] == lo[a] + (hi[a] - lo[a]) * u);
            }
        }
}

static void test_points_lie_inside_the_box(void **state)
{
    double lo[4] = {-1.0, 0.0, 3.0, -1e-3}, hi[4] = {1.0, 1.0, 3.5, 1e-3}, x[4];
    bool face[8] = {true, true, true, true, true, true, true, true};
    for (int dim = 1; dim <= 4; dim++) {
        dk_box box = {.dim = dim, .lo = lo, .hi = hi, .face = face};
        for (int s = 0; s < 2; s++)
            for (long i = 0; i < 2000; i++) {
                interior(samplings[s], 3, 1, &box, i, x);
                for (int a = 0; a < dim; a++)
                    assert_true(x[a] >= lo[a] && x[a] <= hi[a]);
                boundary(samplings[s], 3, 1, &box, i, x);
                for (int a = 0; a < dim; a++)
                    assert_true(x[a] >= lo[a] && x[a] <= hi[a]);
            }
    }
}

/* The face a boundary point lies on: the one axis whose coordinate is exactly lo or hi
 * (the other coordinates are continuous draws and never hit a face here). */
static int face_of(const dk_box *box, const double *x)
{
    int found = -1;
    for (int a = 0; a < box->dim; a++) {
        if (x[a] == box->lo[a] || x[a] == box->hi[a]) {
            if (found >= 0)
                fail_msg("point on two faces");
            found = 2 * a + (x[a] == box->hi[a] ? 1 : 0);
        }
    }
    if (found < 0)
        fail_msg("boundary point on no face");
    return found;
}

static void test_boundary_points_cover_data_faces_evenly(void **state)
{
    /* Heat-like box [0,1]^3 x [0,2]: no data on the final time face (axis 3, upper). */
    double lo[4] = {0.0, 0.0, 0.0, 0.0}, hi[4] = {1.0, 1.0, 1.0, 2.0}, x[4];
    bool face[8] = {true, true, true, true, true, true, true, false};
    dk_box box = {.dim = 4, .lo = lo, .hi = hi, .face = face};
    assert_int_equal(dk_collocation_boundary_faces(&box), 7);
    /* data faces in the documented order: 0..6 */
    for (int s = 0; s < 2; s++) {
        int count[8] = {0};
        for (long i = 0; i < 7 * 300; i++) {
            boundary(samplings[s], 11, 2, &box, i, x);
            int f = face_of(&box, x);
            assert_int_equal(f, (int)(i % 7));
            count[f]++;
        }
        for (int f = 0; f < 7; f++)
            assert_int_equal(count[f], 300);
        assert_int_equal(count[7], 0);
    }

    /* Faces without data are skipped wherever they are. */
    bool sparse[8] = {false, true, false, false, true, false, false, true};
    box.face = sparse;
    assert_int_equal(dk_collocation_boundary_faces(&box), 3);
    const int order[3] = {1, 4, 7};
    for (int s = 0; s < 2; s++)
        for (long i = 0; i < 30; i++) {
            boundary(samplings[s], 11, 0, &box, i, x);
            assert_int_equal(face_of(&box, x), order[i % 3]);
        }

    /* 1-D: the boundary is the end points. */
    double lo1 = -2.0, hi1 = 3.0;
    bool both[2] = {true, true}, left[2] = {true, false};
    dk_box seg = {.dim = 1, .lo = &lo1, .hi = &hi1, .face = both};
    for (int s = 0; s < 2; s++)
        for (long i = 0; i < 6; i++) {
            boundary(samplings[s], 1, 0, &seg, i, x);
            assert_true(x[0] == (i % 2 ? 3.0 : -2.0));
        }
    seg.face = left;
    boundary(DK_SAMPLING_HALTON, 1, 0, &seg, 5, x);
    assert_true(x[0] == -2.0);
}

static void test_halton_boundary_uses_the_face_sequence(void **state)
{
    /* 2-D, four faces: point i is on face i mod 4, its free coordinate is point i / 4 of the
     * 1-D (base 2: no digit to permute) sequence, shifted per face: shift counter
     * 2^62 + (epoch * 2048 + face) * 1024. */
    double lo[2] = {-1.0, -1.0}, hi[2] = {1.0, 1.0}, x[2];
    bool face[4] = {true, true, true, true};
    dk_box box = {.dim = 2, .lo = lo, .hi = hi, .face = face};
    const long epoch = 3;
    for (long i = 0; i < 64; i++) {
        boundary(DK_SAMPLING_HALTON, 5, epoch, &box, i, x);
        int f = (int)(i % 4), axis = f / 2;
        assert_true(x[axis] == (f & 1 ? 1.0 : -1.0));
        double s = dk_rng_uniform(5, DK_STREAM_PDE_SHIFT, (1ULL << 62) + ((uint64_t)epoch * 2048 + (uint64_t)f) * 1024);
        double u = fmod(radical_inverse_ref(i / 4 + 1, 2) + s, 1.0);
        assert_true(fabs(x[1 - axis] - (-1.0 + 2.0 * u)) < 1e-15);
    }
    /* 4-D: the free coordinates of face f come from the scrambled 3-D sequence (bases 2, 3,
     * 5 with their permutations), and faces do not repeat each other's points. */
    double lo4[4] = {0, 0, 0, 0}, hi4[4] = {1, 1, 1, 1}, y[4], z[4];
    bool face4[8] = {true, true, true, true, true, true, true, true};
    dk_box box4 = {.dim = 4, .lo = lo4, .hi = hi4, .face = face4};
    int perm[3][5];
    for (int b = 0; b < 3; b++)
        documented_permutation(9, 1, b, perm[b]);
    for (long i = 0; i < 8 * 40; i++) {
        boundary(DK_SAMPLING_HALTON, 9, 1, &box4, i, y);
        const int f = (int)(i % 8), axis = f / 2;
        for (int b = 0; b < 3; b++) {
            const int a = b < axis ? b : b + 1;
            double s = dk_rng_uniform(9, DK_STREAM_PDE_SHIFT, (1ULL << 62) + ((uint64_t)1 * 2048 + (uint64_t)f) * 1024 + b);
            double u = fmod(scrambled_ref(i / 8 + 1, prime_table()[b], perm[b]) + s, 1.0);
            if (!(fabs(y[a] - u) < 1e-15))
                fail_msg("boundary point %ld coordinate %d: %.17g, want %.17g", i, a, y[a], u);
        }
        if (f % 2 == 0) { /* the opposite face's point of the same place in the sequence */
            boundary(DK_SAMPLING_HALTON, 9, 1, &box4, i + 1, z);
            for (int a = 0; a < 4; a++)
                if (a != axis)
                    assert_true(y[a] != z[a]);
        }
    }
}

/* Plain Halton coordinates with large bases are nearly linear in the index for fewer points
 * than their base: at d = 100 and 2048 points two of them correlated by 0.87, and PDE
 * solutions at d = 60 were 10 to 1000 times worse than with uniform points (docs/pde.md).
 * Scrambled, the largest correlation is that of uniform points (0.08 here: about
 * 3.5 / sqrt(N) over the 4950 pairs). */
static void test_halton_coordinates_are_uncorrelated_in_high_dimension(void **state)
{
    enum { D = 100, N = 2048 };
    static double lo[D], hi[D], x[N][D];
    static bool face[2 * D];
    for (int a = 0; a < D; a++)
        hi[a] = 1.0;
    dk_box box = {.dim = D, .lo = lo, .hi = hi, .face = face};
    double worst[2] = {0.0, 0.0};
    for (int s = 0; s < 2; s++) {
        for (long i = 0; i < N; i++)
            interior(samplings[s], 123, 0, &box, i, x[i]);
        double mean[D] = {0}, sd[D] = {0};
        for (int a = 0; a < D; a++) {
            for (long i = 0; i < N; i++)
                mean[a] += x[i][a] / N;
            for (long i = 0; i < N; i++)
                sd[a] += (x[i][a] - mean[a]) * (x[i][a] - mean[a]);
            sd[a] = sqrt(sd[a]);
        }
        for (int a = 0; a < D; a++)
            for (int c = a + 1; c < D; c++) {
                double cov = 0.0;
                for (long i = 0; i < N; i++)
                    cov += (x[i][a] - mean[a]) * (x[i][c] - mean[c]);
                worst[s] = fmax(worst[s], fabs(cov / (sd[a] * sd[c])));
            }
    }
    print_message("d = %d, N = %d: largest |correlation| between coordinates: uniform %.3f, Halton %.3f\n", D, N,
                  worst[0], worst[1]);
    assert_true(worst[0] < 0.15);
    assert_true(worst[1] < 0.15);
}

static void test_points_are_pure_functions_of_seed_epoch_index(void **state)
{
    enum { D = 5, N = 600 };
    double lo[D] = {0, 0, 0, 0, 0}, hi[D] = {1, 2, 3, 4, 5};
    bool face[2 * D] = {true, true, true, true, true, true, true, true, true, false};
    dk_box box = {.dim = D, .lo = lo, .hi = hi, .face = face};
    static double serial[2][N][D], x[D], y[D];
    for (int s = 0; s < 2; s++) {
        for (long i = 0; i < N; i++) {
            interior(samplings[s], 77, 4, &box, i, serial[0][i]);
            boundary(samplings[s], 77, 4, &box, i, serial[1][i]);
        }
        /* Any rank count, block split: rank r computes [N r / R, N (r+1) / R) backwards. */
        for (int ranks = 1; ranks <= 7; ranks += 3)
            for (int r = 0; r < ranks; r++)
                for (long i = (long)N * (r + 1) / ranks - 1; i >= (long)N * r / ranks; i--) {
                    interior(samplings[s], 77, 4, &box, i, x);
                    boundary(samplings[s], 77, 4, &box, i, y);
                    assert_memory_equal(x, serial[0][i], sizeof x);
                    assert_memory_equal(y, serial[1][i], sizeof y);
                }
        /* Another epoch or seed moves every point (interior) and every free coordinate. */
        for (long i = 0; i < N; i++) {
            interior(samplings[s], 77, 5, &box, i, x);
            interior(samplings[s], 78, 4, &box, i, y);
            for (int a = 0; a < D; a++) {
                assert_true(x[a] != serial[0][i][a]);
                assert_true(y[a] != serial[0][i][a]);
            }
            boundary(samplings[s], 77, 5, &box, i, x);
            boundary(samplings[s], 78, 4, &box, i, y);
            int free_differs_x = 0, free_differs_y = 0;
            for (int a = 0; a < D; a++) {
                free_differs_x += x[a] != serial[1][i][a];
                free_differs_y += y[a] != serial[1][i][a];
            }
            assert_int_equal(free_differs_x, D - 1);
            assert_int_equal(free_differs_y, D - 1);
        }
        /* Interior and boundary streams are not the same numbers. */
        assert_true(memcmp(serial[0][0], serial[1][0], sizeof x) != 0);
    }
}

/* A smooth product (not a sum of 1-D terms, which would favour Halton unfairly) with a
 * closed-form mean: prod_a (pi/2) sin(pi x_a) has mean 1 over [0,1]^d. */
static double test_function(const double *x, int d)
{
    double f = 1.0;
    for (int a = 0; a < d; a++)
        f *= 0.5 * pi * sin(pi * x[a]);
    return f;
}

/* Root mean square over 8 seeds of the error of the N-point mean of test_function. */
static double rms_error(dk_sampling sampling, int d, long n)
{
    double lo[8] = {0}, hi[8] = {1, 1, 1, 1, 1, 1, 1, 1}, x[8];
    bool face[16] = {0};
    dk_box box = {.dim = d, .lo = lo, .hi = hi, .face = face};
    double sq = 0.0;
    for (unsigned long long seed = 1; seed <= 8; seed++) {
        double sum = 0.0;
        for (long i = 0; i < n; i++) {
            interior(sampling, seed, 0, &box, i, x);
            sum += test_function(x, d);
        }
        double err = sum / (double)n - 1.0;
        sq += err * err;
    }
    return sqrt(sq / 8.0);
}

static void test_halton_integrates_far_better_than_uniform(void **state)
{
    const int dims[2] = {2, 5};
    for (int k = 0; k < 2; k++) {
        double e_uniform = rms_error(DK_SAMPLING_UNIFORM, dims[k], 4096);
        double e_halton = rms_error(DK_SAMPLING_HALTON, dims[k], 4096);
        print_message("d = %d, N = 4096: rms error uniform %.3e, Halton %.3e (ratio %.1f)\n", dims[k], e_uniform,
                      e_halton, e_uniform / e_halton);
        assert_true(e_halton * 5.0 < e_uniform);
    }
}

static void test_grid_has_corners_and_first_axis_slowest(void **state)
{
    double lo[3] = {-1.0, 0.0, 2.0}, hi[3] = {1.0, 0.3, 7.0}, x[3];
    bool face[6] = {0};
    dk_box box = {.dim = 3, .lo = lo, .hi = hi, .face = face};
    const long n = 4, count = n * n * n;
    dk_collocation_grid(&box, n, 0, x);
    assert_true(x[0] == -1.0 && x[1] == 0.0 && x[2] == 2.0);
    dk_collocation_grid(&box, n, count - 1, x);
    assert_true(x[0] == 1.0 && x[1] == 0.3 && x[2] == 7.0);
    dk_collocation_grid(&box, n, n - 1, x); /* last axis fastest */
    assert_true(x[0] == -1.0 && x[1] == 0.0 && x[2] == 7.0);
    dk_collocation_grid(&box, n, n * n, x); /* first axis slowest: second value of axis 0 */
    assert_true(fabs(x[0] - (-1.0 / 3.0)) < 1e-15 && x[1] == 0.0 && x[2] == 2.0);
    /* index = 16 i + 4 j + k  ->  (lo + (hi - lo) i/3, ...) for all 64, every point once */
    for (long i = 0; i < count; i++) {
        dk_collocation_grid(&box, n, i, x);
        long ijk[3] = {i / 16, (i / 4) % 4, i % 4};
        for (int a = 0; a < 3; a++)
            assert_true(fabs(x[a] - (lo[a] + (hi[a] - lo[a]) * ijk[a] / 3.0)) < 1e-14);
    }
    /* Two points per axis are the corners. */
    double y[3];
    dk_collocation_grid(&box, 2, 5, y); /* 101 in binary */
    assert_true(y[0] == 1.0 && y[1] == 0.0 && y[2] == 7.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_radical_inverse_matches_hand_values),
        cmocka_unit_test(test_halton_follows_the_documented_scrambled_sequence),
        cmocka_unit_test(test_uniform_follows_the_documented_counter),
        cmocka_unit_test(test_points_lie_inside_the_box),
        cmocka_unit_test(test_boundary_points_cover_data_faces_evenly),
        cmocka_unit_test(test_halton_boundary_uses_the_face_sequence),
        cmocka_unit_test(test_halton_coordinates_are_uncorrelated_in_high_dimension),
        cmocka_unit_test(test_points_are_pure_functions_of_seed_epoch_index),
        cmocka_unit_test(test_halton_integrates_far_better_than_uniform),
        cmocka_unit_test(test_grid_has_corners_and_first_axis_slowest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
