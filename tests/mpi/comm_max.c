/* dk_comm_allreduce_max_f64 under mpirun (CTest runs 1, 3 and 4 ranks): every entry must be
 * the maximum over ranks found by a loop over every rank's values, and a NaN on any one rank
 * (the first, a middle or the last) must come out NaN on every rank, where Open MPI's
 * MPI_MAX drops it. Exit status 0 on success, 1 naming the first difference. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>

#include "dist/dk_comm.h"

enum { N = 5 };

/* Rank r's value of entry i: finite, signed, infinite or NaN, by case. */
static double value(int which, int r, int size, int i)
{
    switch (which) {
    case 0: /* finite values whose maximum sits on a different rank per entry */
        return (double)((r + i) % size) - 0.5 * i;
    case 1: /* NaN on rank i % size only */
        return r == i % size ? NAN : 1.0 + r;
    case 2: /* NaN on the last rank, where the others hold +inf */
        return r == size - 1 ? NAN : INFINITY;
    default: /* -inf everywhere but one rank */
        return r == (i + 1) % size ? -1e300 : -INFINITY;
    }
}

int main(int argc, char **argv)
{
    dk_comm *comm = NULL;
    if (dk_comm_init(&argc, &argv, &comm) != DK_OK) {
        fprintf(stderr, "comm_max: %s\n", dk_error_message());
        return 1;
    }
    const int rank = dk_comm_rank(comm), size = dk_comm_size(comm);
    int failures = 0;
    for (int which = 0; which < 4; which++) {
        double got[N], want[N];
        for (int i = 0; i < N; i++) {
            got[i] = value(which, rank, size, i);
            want[i] = value(which, 0, size, i);
            for (int r = 1; r < size; r++) {
                const double v = value(which, r, size, i);
                if (isnan(v) || v > want[i])
                    want[i] = v;
            }
        }
        if (dk_comm_allreduce_max_f64(comm, got, N) != DK_OK) {
            fprintf(stderr, "comm_max: rank %d: %s\n", rank, dk_error_message());
            failures++;
            continue;
        }
        for (int i = 0; i < N; i++)
            if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])))) {
                fprintf(stderr, "comm_max: rank %d, case %d, entry %d: %g, expected %g\n", rank, which, i, got[i],
                        want[i]);
                failures++;
            }
    }
    if (rank == 0)
        printf("comm_max: %d ranks, %s\n", size, failures ? "FAILED" : "every case as expected");
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    dk_comm_finalize(&comm);
    return total == 0 ? 0 : 1;
}
