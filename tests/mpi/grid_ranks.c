/* Grid changes under MPI: every rank must end with the same grids and parameters, byte for
 * byte, and the gathered sample set must not depend on the world size.
 *
 * Run with mpirun -np N (CTest runs 2 and 4). Each rank builds its shard of a fit task
 * (global batches cut across ranks, several batches) and of a PDE task, gathers the grid
 * update samples with the trainer's own function, then applies to the same network:
 * update, extension (G -> 2G + 1), update, extension. Rank 0 then
 *   - receives every rank's parameter and grid bytes and compares them with its own;
 *   - rebuilds both tasks as a single rank (world size 1, same seed), gathers again and
 *     checks that the sample sets and the resulting network bytes equal the distributed ones.
 * Exit status 0 on success, 1 with a message naming the first difference. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../launcher/dk_train_run.h"

#define CHECK(call)                                                                                    \
    do {                                                                                               \
        if ((call) != DK_OK) {                                                                         \
            fprintf(stderr, "grid_ranks: %s failed: %s\n", #call, dk_error_message());                \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                              \
        }                                                                                              \
    } while (0)

enum { N_SAMPLES = 300, G0 = 4 };

static dk_fit_task *make_fit(int rank, int world)
{
    dk_fit_task_settings s = {.dtype = DK_F64, .seed = 11, .function = "exp_sin_sq", .train_size = 480,
                              .test_size = 10, .batch = 120, .lo = -1.0, .hi = 1.0, .rank = rank,
                              .world_size = world};
    dk_fit_task *t = NULL;
    CHECK(dk_fit_task_create(&t, &s));
    return t;
}

static dk_pde_task *make_pde(int rank, int world)
{
    dk_pde_task_settings s = {.problem = dk_pde_problem_find("poisson2d"), .dtype = DK_F64, .seed = 5, .alpha = 0.01,
                              .interior = 250, .boundary = 70, .sampling = DK_SAMPLING_HALTON, .eval_grid = 3,
                              .eval_points = 10, .rank = rank, .world_size = world};
    dk_pde_task *t = NULL;
    CHECK(dk_pde_task_create(&t, &s));
    return t;
}

static dk_network *make_network(void)
{
    const int widths[] = {2, 4, 3, 1};
    dk_network_settings s = {.widths = widths, .n_widths = 4, .G = G0, .k = 3, .grid_lo = -1.0, .grid_hi = 1.0,
                             .dtype = DK_F64, .seed = 3, .noise_scale = 0.5, .scale_base_mu = 0.0,
                             .scale_base_sigma = 1.0, .scale_sp = 1.0, .max_batch = 128, .n_threads = 1};
    dk_network *net = NULL;
    CHECK(dk_network_create(&net, &s));
    return net;
}

/* update, extend to 2G + 1, update, extend again: the trainer's grid operations in a row. */
static dk_network *grid_sequence(const double *samples)
{
    dk_network *net = make_network();
    for (int round = 0; round < 2; round++) {
        dk_grid_update_report rep;
        memset(&rep, 0, sizeof rep);
        CHECK(dk_network_update_grid(net, NULL, N_SAMPLES, samples, 0.02, &rep));
        dk_network *fine = NULL;
        CHECK(dk_network_refine(net, 2 * net->G + 1, &fine, NULL));
        dk_network_destroy(&net);
        net = fine;
    }
    return net;
}

/* params then state, as bytes. */
static size_t network_bytes(const dk_network *net, unsigned char **out)
{
    size_t p = net->n_params * sizeof(double), s = net->n_state * sizeof(double);
    *out = malloc(p + s);
    memcpy(*out, net->params, p);
    memcpy(*out + p, net->state, s);
    return p + s;
}

static int first_difference(const unsigned char *a, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (int)i;
    return -1;
}

int main(int argc, char **argv)
{
    dk_comm *comm = NULL;
    CHECK(dk_comm_init(&argc, &argv, &comm));
    const int rank = dk_comm_rank(comm), world = dk_comm_size(comm);
    int failures = 0;

    static double fit_samples[N_SAMPLES * 2], pde_samples[N_SAMPLES * 2];
    dk_fit_task *fit = make_fit(rank, world);
    dk_pde_task *pde = make_pde(rank, world);
    dk_network *probe = NULL;
    {
        /* The PDE task generates its points when bound to a network. */
        const int widths[] = {2, 3, 1};
        dk_network_settings s = {.widths = widths, .n_widths = 3, .G = 3, .k = 3, .grid_lo = -1, .grid_hi = 1,
                                 .dtype = DK_F64, .max_batch = (int)dk_pde_task_max_rows(pde, widths, 3, 0),
                                 .n_threads = 1, .jet = 1, .scale_sp = 1};
        CHECK(dk_network_create(&probe, &s));
        CHECK(dk_pde_task_bind(pde, probe));
    }
    CHECK(dk_train_gather_grid_samples(comm, fit, NULL, N_SAMPLES, 2, fit_samples));
    CHECK(dk_train_gather_grid_samples(comm, NULL, pde, N_SAMPLES, 2, pde_samples));

    dk_network *net = grid_sequence(fit_samples);
    unsigned char *mine = NULL;
    size_t n = network_bytes(net, &mine);
    unsigned char *all = rank == 0 ? malloc(n * (size_t)world) : NULL;
    MPI_Gather(mine, (int)n, MPI_BYTE, all, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        for (int r = 1; r < world; r++) {
            int at = first_difference(all, all + (size_t)r * n, n);
            if (at >= 0) {
                fprintf(stderr, "FAIL: rank %d's parameters/grids differ from rank 0's at byte %d of %zu\n", r, at, n);
                failures++;
            }
        }
        /* One rank, same seeds: the same samples, hence the same network, bit for bit. */
        dk_fit_task *fit1 = make_fit(0, 1);
        dk_pde_task *pde1 = make_pde(0, 1);
        CHECK(dk_pde_task_bind(pde1, probe));
        static double fit1_samples[N_SAMPLES * 2], pde1_samples[N_SAMPLES * 2];
        dk_fit_task_grid_samples(fit1, N_SAMPLES, fit1_samples);
        dk_pde_task_grid_samples(pde1, N_SAMPLES, pde1_samples);
        if (memcmp(fit1_samples, fit_samples, sizeof fit_samples) != 0) {
            fprintf(stderr, "FAIL: the fit samples gathered from %d ranks differ from one rank's\n", world);
            failures++;
        }
        if (memcmp(pde1_samples, pde_samples, sizeof pde_samples) != 0) {
            fprintf(stderr, "FAIL: the PDE samples gathered from %d ranks differ from one rank's\n", world);
            failures++;
        }
        dk_network *net1 = grid_sequence(fit1_samples);
        unsigned char *single = NULL;
        size_t n1 = network_bytes(net1, &single);
        if (n1 != n || first_difference(single, mine, n) >= 0) {
            fprintf(stderr, "FAIL: the network after grid changes on %d ranks differs from one rank's\n", world);
            failures++;
        }
        /* The sequence really changed the grids (a test that cannot fail proves nothing). */
        dk_network *fresh = make_network();
        if (net->G != 2 * (2 * G0 + 1) + 1 || fresh->state == NULL ||
            net->n_state == fresh->n_state) {
            fprintf(stderr, "FAIL: expected G %d after two extensions, found %d\n", 2 * (2 * G0 + 1) + 1, net->G);
            failures++;
        }
        if (failures == 0)
            printf("grid_ranks: %d ranks: parameters and grids identical on every rank (%zu bytes each) and "
                   "equal to one rank's; fit and PDE samples world-size invariant\n",
                   world, n);
        free(single);
        dk_network_destroy(&net1);
        dk_network_destroy(&fresh);
        dk_fit_task_destroy(&fit1);
        dk_pde_task_destroy(&pde1);
        free(all);
    }
    MPI_Bcast(&failures, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(mine);
    dk_network_destroy(&net);
    dk_network_destroy(&probe);
    dk_fit_task_destroy(&fit);
    dk_pde_task_destroy(&pde);
    dk_comm_finalize(&comm);
    return failures ? 1 : 0;
}
