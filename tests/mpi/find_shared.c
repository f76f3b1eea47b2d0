/* dk_comm_find_shared under mpirun (CTest runs 1, 3 and 4 ranks, all on this node): for
 * several ways of giving ranks keys, the pair it reports must be the lowest pair (a, then b)
 * of ranks with equal keys, found here by a naive double loop over every rank's key, and
 * every rank must get the same pair and the same description. Exit status 0 on success, 1
 * with a message naming the first difference. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "dist/dk_comm.h"

typedef void (*key_fn)(int rank, int size, char *out, size_t n);

static void unique(int rank, int size, char *out, size_t n) { snprintf(out, n, "gpu-%d", rank); }
static void all_same(int rank, int size, char *out, size_t n) { snprintf(out, n, "0000:1B:00.0"); }
static void parity(int rank, int size, char *out, size_t n) { snprintf(out, n, "gpu-%d", rank % 2); }
static void last_two(int rank, int size, char *out, size_t n)
{
    snprintf(out, n, "gpu-%d", rank >= size - 2 ? -1 : rank);
}
/* Ranks 0 and 3 agree, and so do 1 and 2: the lowest pair is (0, 3), although (1, 2) has
 * the lower second rank and the closer ranks. */
static void later_pairs(int rank, int size, char *out, size_t n)
{
    if (rank == 0 || rank == 3)
        snprintf(out, n, "x");
    else if (rank == 1 || rank == 2)
        snprintf(out, n, "y");
    else
        snprintf(out, n, "gpu-%d", rank);
}

static int failures;
#define EXPECT(cond, ...)                                                                              \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "find_shared: rank %d: ", rank);                                          \
            fprintf(stderr, __VA_ARGS__);                                                              \
            fprintf(stderr, "\n");                                                                     \
            failures++;                                                                                \
        }                                                                                              \
    } while (0)

static void check(dk_comm *comm, const char *name, key_fn key)
{
    const int rank = dk_comm_rank(comm), size = dk_comm_size(comm);
    int want_a = -1, want_b = -1;
    char ki[DK_COMM_KEY_MAX], kj[DK_COMM_KEY_MAX], mine[DK_COMM_KEY_MAX];
    for (int i = 0; i < size && want_a < 0; i++)
        for (int j = i + 1; j < size; j++) {
            key(i, size, ki, sizeof ki);
            key(j, size, kj, sizeof kj);
            if (!strcmp(ki, kj)) {
                want_a = i, want_b = j;
                break;
            }
        }
    key(rank, size, mine, sizeof mine);
    int a = -2, b = -2;
    char where[200] = "unset";
    if (dk_comm_find_shared(comm, mine, &a, &b, where, sizeof where) != DK_OK) {
        EXPECT(0, "%s: dk_comm_find_shared failed: %s", name, dk_error_message());
        return;
    }
    EXPECT(a == want_a && b == want_b, "%s: pair (%d, %d), expected (%d, %d)", name, a, b, want_a, want_b);
    char host[MPI_MAX_PROCESSOR_NAME], want_where[300] = "";
    int len = 0;
    MPI_Get_processor_name(host, &len);
    if (want_a >= 0) {
        key(want_a, size, ki, sizeof ki);
        snprintf(want_where, sizeof want_where, "%s on host %s", ki, host);
    }
    EXPECT(!strcmp(where, want_where), "%s: where \"%s\", expected \"%s\"", name, where, want_where);
    /* The same answer on every rank: compare with rank 0's. */
    int pair[2] = {a, b};
    MPI_Bcast(pair, 2, MPI_INT, 0, MPI_COMM_WORLD);
    EXPECT(pair[0] == a && pair[1] == b, "%s: rank 0 got (%d, %d), this rank (%d, %d)", name, pair[0], pair[1], a, b);
    if (rank == 0)
        printf("%s: %d ranks -> (%d, %d)%s%s\n", name, size, a, b, where[0] ? ", " : "", where);
}

int main(int argc, char **argv)
{
    dk_comm *comm = NULL;
    if (dk_comm_init(&argc, &argv, &comm) != DK_OK) {
        fprintf(stderr, "find_shared: %s\n", dk_error_message());
        return 1;
    }
    const int rank = dk_comm_rank(comm);
    if (dk_comm_local_size(comm) != dk_comm_size(comm)) {
        if (rank == 0)
            printf("find_shared: the ranks span several nodes; this test assumes one: skipped\n");
        dk_comm_finalize(&comm);
        return 77;
    }
    check(comm, "unique keys", unique);
    check(comm, "one key for all", all_same);
    check(comm, "two keys, alternating", parity);
    check(comm, "the last two alike", last_two);
    check(comm, "lowest of two pairs", later_pairs);
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    dk_comm_finalize(&comm);
    return total == 0 ? 0 : 1;
}
