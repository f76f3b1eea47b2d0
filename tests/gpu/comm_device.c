/* Device-buffer collectives of dk_comm under mpirun, checked exactly against closed forms.
 *
 *   comm_device --probe                 no MPI: prints "devices=N nccl=V" (V as NCCL's
 *                                       version code, e.g. 22809), exits 77 without a GPU
 *   comm_device nccl|mpi [COUNT,...]    all-reduce (f32, f64) of every count, broadcast,
 *                                       start/wait with 3 buckets, the host path after it
 *   comm_device nccl --stall sync|async one rank's compute stream never finishes (a host
 *                                       callback sleeps): the job must end by the timeout
 *   comm_device nccl --peer hang|die|hang-async
 *                                       after one good all-reduce rank 1 hangs or exits:
 *                                       the job must end, naming a rank
 *
 * Rank r holds v_i(r) = (i mod 1009) + 3r + 1, integers, so every sum is exact in float32:
 *   sum_r v_i(r) = P((i mod 1009) + 1) + 3P(P-1)/2.
 * Buffers are filled by asynchronous copies from pinned memory on the compute stream just
 * before each collective, so a collective that does not wait for the compute stream reads
 * stale data and fails the comparison. Every rank selects GPU local_rank mod device_count.
 */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/dk_cuda.h"
#include "dist/dk_comm.h"

static int failures;
static int rank0;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL (rank %d): ", rank0);                                    \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void die_on(dk_err err, const char *what, dk_comm *comm)
{
    if (err == DK_OK)
        return;
    fprintf(stderr, "rank %d: %s: %s\n", rank0, what, dk_error_message());
    dk_comm_abort(comm, 1);
}

static double value(size_t i, int r) { return (double)(i % 1009) + 3.0 * r + 1.0; }
static double sum_value(size_t i, int p) { return p * ((double)(i % 1009) + 1.0) + 1.5 * p * (p - 1); }

struct ctx {
    dk_comm *comm;
    cudaStream_t stream;
    int rank, size;
};

/* Pinned host copy of rank r's values, queued (not waited for) onto the device buffer. */
static void fill_async(struct ctx *x, void *dev, void *pinned, size_t count, dk_dtype t)
{
    for (size_t i = 0; i < count; i++)
        dk_store(t, pinned, i, value(i, x->rank));
    cudaMemsetAsync(dev, 0xff, count * dk_dtype_size(t), x->stream); /* NaN until the copy lands */
    cudaMemcpyAsync(dev, pinned, count * dk_dtype_size(t), cudaMemcpyHostToDevice, x->stream);
}

/* A collective must leave no CUDA error behind: training checks each kernel launch with
 * cudaGetLastError, which would blame a leftover (the "not ready" of polling an event, say)
 * on the next kernel. */
static void check_no_leftover_error(const char *what)
{
    cudaError_t e = cudaPeekAtLastError();
    CHECK(e == cudaSuccess, "%s left %s as the thread's last CUDA error", what, cudaGetErrorName(e));
    (void)cudaGetLastError();
}

static void check_sums(struct ctx *x, const void *dev, void *host, size_t count, dk_dtype t, const char *what)
{
    die_on(dk_cuda_to_host(host, dev, count * dk_dtype_size(t), x->stream), "copy back", x->comm);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < count; i++)
        if (dk_load(t, host, i) != sum_value(i, x->size) && bad++ == 0)
            first = i;
    CHECK(bad == 0, "%s %s count %zu: %zu wrong sums, first at %zu: %.17g, expected %.17g", what, dk_dtype_name(t),
          count, bad, first, dk_load(t, host, first), sum_value(first, x->size));
    if (bad == 0 && x->rank == 0)
        printf("ok: %s %s count %zu\n", what, dk_dtype_name(t), count);
}

static void test_allreduce(struct ctx *x, const size_t *counts, int n)
{
    for (int t = 0; t < 2; t++) {
        dk_dtype dt = t ? DK_F64 : DK_F32;
        for (int k = 0; k < n; k++) {
            size_t count = counts[k], bytes = count * dk_dtype_size(dt);
            void *dev = NULL, *pinned = NULL;
            die_on(dk_cuda_malloc(&dev, bytes, "test buffer"), "cudaMalloc", x->comm);
            die_on(dk_cuda_host_alloc(&pinned, bytes, "test staging"), "cudaMallocHost", x->comm);
            fill_async(x, dev, pinned, count, dt);
            die_on(dk_comm_allreduce_sum(x->comm, dev, count, dt, DK_MEM_DEVICE), "all-reduce", x->comm);
            check_no_leftover_error("all-reduce");
            check_sums(x, dev, pinned, count, dt, "all-reduce");
            dk_cuda_host_free(pinned);
            dk_cuda_free(dev);
        }
    }
}

static void test_broadcast(struct ctx *x)
{
    const size_t sizes[] = {1, 1001, 40000003}; /* the last spans several staging chunks */
    int root = x->size - 1;
    for (int k = 0; k < 3; k++) {
        size_t bytes = sizes[k];
        unsigned char *dev = NULL, *host = NULL;
        die_on(dk_cuda_malloc((void **)&dev, bytes, "test buffer"), "cudaMalloc", x->comm);
        die_on(dk_cuda_host_alloc((void **)&host, bytes, "test staging"), "cudaMallocHost", x->comm);
        for (size_t i = 0; i < bytes; i++)
            host[i] = x->rank == root ? (unsigned char)(i * 7 + 13) : 0;
        cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, x->stream);
        die_on(dk_comm_broadcast(x->comm, dev, bytes, root, DK_MEM_DEVICE), "broadcast", x->comm);
        check_no_leftover_error("broadcast");
        die_on(dk_cuda_to_host(host, dev, bytes, x->stream), "copy back", x->comm);
        size_t bad = 0;
        for (size_t i = 0; i < bytes; i++)
            bad += host[i] != (unsigned char)(i * 7 + 13);
        CHECK(bad == 0, "broadcast of %zu bytes from rank %d: %zu wrong bytes", bytes, root, bad);
        if (bad == 0 && x->rank == 0)
            printf("ok: broadcast %zu bytes from rank %d\n", bytes, root);
        dk_cuda_host_free(host);
        dk_cuda_free(dev);
    }
}

/* Three buckets started back to back, one wait, then the compute stream reads them: three
 * rounds, so events and the watchdog's ring are reused. */
static void test_start_wait(struct ctx *x)
{
    const size_t counts[3] = {1000, 1048579, 777777};
    for (int t = 0; t < 2; t++) {
        dk_dtype dt = t ? DK_F64 : DK_F32;
        void *dev[3], *pinned[3];
        for (int b = 0; b < 3; b++) {
            die_on(dk_cuda_malloc(&dev[b], counts[b] * dk_dtype_size(dt), "bucket"), "cudaMalloc", x->comm);
            die_on(dk_cuda_host_alloc(&pinned[b], counts[b] * dk_dtype_size(dt), "bucket staging"), "cudaMallocHost",
                   x->comm);
        }
        for (int round = 0; round < 3; round++) {
            for (int b = 0; b < 3; b++) {
                fill_async(x, dev[b], pinned[b], counts[b], dt);
                die_on(dk_comm_allreduce_start(x->comm, dev[b], counts[b], dt), "all-reduce start", x->comm);
            }
            die_on(dk_comm_allreduce_wait(x->comm), "all-reduce wait", x->comm);
            check_no_leftover_error("all-reduce start/wait");
            for (int b = 0; b < 3; b++)
                check_sums(x, dev[b], pinned[b], counts[b], dt, "start/wait bucket");
        }
        for (int b = 0; b < 3; b++) {
            dk_cuda_host_free(pinned[b]);
            dk_cuda_free(dev[b]);
        }
    }
}

static void test_host_path(struct ctx *x)
{
    enum { N = 1000 };
    double v[N];
    for (size_t i = 0; i < N; i++)
        v[i] = value(i, x->rank);
    die_on(dk_comm_allreduce_sum(x->comm, v, N, DK_F64, DK_MEM_HOST), "host all-reduce", x->comm);
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += v[i] != sum_value(i, x->size);
    CHECK(bad == 0, "host all-reduce after enabling device buffers: %zu wrong sums", bad);
    if (bad == 0 && x->rank == 0)
        printf("ok: host all-reduce still works\n");
}

static void CUDART_CB sleep_forever(void *arg)
{
    (void)arg;
    sleep(600);
}

/* Failure drills: each must end the job from inside dk_comm; returning is a failure. */
static int drill(struct ctx *x, const char *stall, const char *peer)
{
    enum { N = 1000 };
    void *dev = NULL, *pinned = NULL;
    die_on(dk_cuda_malloc(&dev, N * sizeof(float), "drill"), "cudaMalloc", x->comm);
    die_on(dk_cuda_host_alloc(&pinned, N * sizeof(float), "drill"), "cudaMallocHost", x->comm);
    fill_async(x, dev, pinned, N, DK_F32);
    die_on(dk_comm_allreduce_sum(x->comm, dev, N, DK_F32, DK_MEM_DEVICE), "all-reduce", x->comm);
    check_sums(x, dev, pinned, N, DK_F32, "all-reduce before the drill");
    fflush(stdout);
    int async = 0;
    if (stall) {
        async = !strcmp(stall, "async");
        fprintf(stderr, "rank %d: the compute stream now stalls\n", x->rank);
        cudaLaunchHostFunc(x->stream, sleep_forever, NULL);
    } else {
        async = !strcmp(peer, "hang-async");
        if (x->rank == 1) {
            fprintf(stderr, "rank 1: %s now\n", !strcmp(peer, "die") ? "exiting" : "hanging");
            if (!strcmp(peer, "die"))
                _exit(3);
            sleep(600);
            _exit(3);
        }
    }
    if (async) {
        die_on(dk_comm_allreduce_start(x->comm, dev, N, DK_F32), "all-reduce start", x->comm);
        die_on(dk_comm_allreduce_wait(x->comm), "all-reduce wait", x->comm);
        cudaStreamSynchronize(x->stream); /* only the watchdog can end this */
    } else {
        die_on(dk_comm_allreduce_sum(x->comm, dev, N, DK_F32, DK_MEM_DEVICE), "all-reduce", x->comm);
    }
    fprintf(stderr, "FAIL (rank %d): the all-reduce returned\n", x->rank);
    return 1;
}

static int parse_counts(const char *s, size_t *out, int cap)
{
    int n = 0;
    for (const char *p = s; *p && n < cap;) {
        char *end = NULL;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        out[n++] = (size_t)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    int devices = dk_cuda_device_count();
    if (argc > 1 && !strcmp(argv[1], "--probe")) {
        int version = 0;
        ncclGetVersion(&version);
        printf("devices=%d nccl=%d\n", devices, version);
        if (devices == 0)
            printf("no CUDA device visible (%s): skipped\n", dk_cuda_no_device_reason());
        return devices ? 0 : 77;
    }
    if (devices == 0) {
        printf("no CUDA device visible: skipped\n");
        return 77;
    }
    if (argc < 2 || (strcmp(argv[1], "nccl") && strcmp(argv[1], "mpi"))) {
        fprintf(stderr, "usage: comm_device --probe | nccl|mpi [COUNT,...] [--stall sync|async] [--peer hang|die|hang-async]\n");
        return 2;
    }
    dk_comm_backend backend = !strcmp(argv[1], "nccl") ? DK_COMM_NCCL : DK_COMM_MPI;
#ifdef DISTKAN_CUDA_EMULATOR
    if (backend == DK_COMM_NCCL) {
        printf("NCCL needs a real GPU (this is a CUDA emulator build): skipped\n");
        return 77;
    }
#endif
    size_t counts[16] = {1, 1000, (1u << 20) + 3, 777777, (1u << 23) + 5};
    int ncounts = 5;
    const char *stall = NULL, *peer = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--stall") && i + 1 < argc)
            stall = argv[++i];
        else if (!strcmp(argv[i], "--peer") && i + 1 < argc)
            peer = argv[++i];
        else if ((ncounts = parse_counts(argv[i], counts, 16)) <= 0) {
            fprintf(stderr, "bad count list '%s'\n", argv[i]);
            return 2;
        }
    }

    struct ctx x = {0};
    die_on(dk_comm_init(&argc, &argv, &x.comm), "MPI", NULL);
    x.rank = rank0 = dk_comm_rank(x.comm);
    x.size = dk_comm_size(x.comm);
    int local = dk_comm_local_rank(x.comm), local_size = dk_comm_local_size(x.comm);
    char name[128] = "";
    die_on(dk_cuda_set_device(local % devices, name, sizeof name), "cudaSetDevice", x.comm);
    void *stream = NULL;
    die_on(dk_cuda_stream_create(&stream), "stream", x.comm);
    x.stream = stream;
    /* Sharing is decided by physical GPU (PCI bus id), as the trainer decides it. */
    char bus[32] = "";
    die_on(dk_cuda_bus_id(local % devices, bus, sizeof bus), "cudaDeviceGetPCIBusId", x.comm);
    int share_a = -1, share_b = -1;
    die_on(dk_comm_find_shared(x.comm, bus, &share_a, &share_b, NULL, 0), "dk_comm_find_shared", x.comm);
    const int shared = share_a >= 0;
    int version = 0;
    ncclGetVersion(&version);
    if (x.rank == 0)
        printf("comm_device: %d ranks, backend %s, %d GPU(s) (%s), NCCL %d%s\n", x.size, argv[1], devices, name, version,
               shared ? ", ranks share a GPU" : "");
    if (backend == DK_COMM_NCCL && shared && version < 23000) {
        if (x.rank == 0)
            printf("%d ranks share %d GPU(s): NCCL %d refuses that (\"Duplicate GPU detected\"; 2.30+ allows it with "
                   "NCCL_MULTI_RANK_GPU_ENABLE=1): skipped\n",
                   local_size, devices, version);
        dk_comm_finalize(&x.comm);
        return 77;
    }
    dk_err err = dk_comm_enable_device(x.comm, backend, stream);
    if (err != DK_OK) {
        fprintf(stderr, "rank %d: dk_comm_enable_device: %s\n", x.rank, dk_error_message());
        dk_comm_finalize(&x.comm);
        if (backend == DK_COMM_NCCL && shared) {
            if (x.rank == 0)
                printf("NCCL could not put %d ranks on one GPU even with NCCL_MULTI_RANK_GPU_ENABLE: skipped\n",
                       local_size);
            return 77;
        }
        return 1;
    }
    CHECK(dk_comm_device_backend(x.comm) == backend, "dk_comm_device_backend");
    CHECK(!strcmp(dk_comm_backend_name(x.comm), argv[1]), "dk_comm_backend_name is %s", dk_comm_backend_name(x.comm));

    if (stall || peer)
        return drill(&x, stall, peer);

    test_allreduce(&x, counts, ncounts);
    test_broadcast(&x);
    test_start_wait(&x);
    test_host_path(&x);

    double bad = failures;
    die_on(dk_comm_allreduce_sum(x.comm, &bad, 1, DK_F64, DK_MEM_HOST), "agreeing on the result", x.comm);
    if (x.rank == 0)
        printf("%s: %d ranks, backend %s, %g failed checks\n", bad == 0 ? "PASS" : "FAIL", x.size, argv[1], bad);
    dk_comm_finalize(&x.comm);
    dk_cuda_stream_destroy(stream);
    return bad == 0 ? 0 : 1;
}
