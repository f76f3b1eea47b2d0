/* The CUDA emulator's own checks, each provoked on purpose: `emu_selftest <case>` runs one
 * fault (or one correct use, as a control) and test_emu_selftest.sh checks that the
 * emulator stops it with its message, or that the control runs clean. Without this, a
 * change to the emulator that lost a check would leave every emu.* test green while no
 * longer able to fail. Translated by cu_to_cpp.sed like the backend's kernels; emulator
 * builds only. */
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 100 }; /* not a multiple of 64 floats: the buffer's end is inside a 256-byte unit */

__global__ void fill(float *out, int n, float value)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = value + (float)i;
}

/* Writes one element past the end (i == n). */
__global__ void fill_one_too_many(float *out, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n)
        out[i] = 1.0f;
}

/* Thread t reads what thread t+1 wrote to shared memory; `sync` says whether a barrier
 * separates the write from the read. */
__global__ void rotate(int *out, bool sync)
{
    __shared__ int slot[64];
    const int t = threadIdx.x;
    slot[t] = t;
    if (sync)
        __syncthreads();
    out[t] = slot[(t + 1) % 64];
}

/* Half a warp waits at __syncthreads, the other half at a shuffle with the whole warp:
 * neither can complete (threads that have returned would drop out of the barrier, as on
 * Volta and later, so the other half must wait somewhere). */
__global__ void split_barrier(int *out)
{
    int v = (int)threadIdx.x;
    if (threadIdx.x < 16)
        __syncthreads();
    else
        v = __shfl_sync(0xffffffffu, v, 0);
    out[threadIdx.x] = v;
}

/* Every block writes the one place: a race between blocks, whose winner is the last block
 * to run. */
__global__ void claim(int *out)
{
    if (threadIdx.x == 0)
        out[0] = (int)blockIdx.x;
}

__global__ void use_dynamic_shared(float *out)
{
    extern __shared__ float zone[];
    zone[threadIdx.x] = 1.0f;
    out[threadIdx.x] = zone[threadIdx.x];
}

/* 52 KB of static shared memory: nvcc would refuse it at compile time; this file is built
 * for the emulator only. */
__global__ void use_big_static_shared(float *out)
{
    __shared__ float table[13000];
    table[threadIdx.x] = 1.0f;
    out[threadIdx.x] = table[threadIdx.x];
}

static void check(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "emu_selftest: %s: %s\n", what, cudaGetErrorString(e));
        exit(1);
    }
}

static float *device_buffer(void)
{
    float *d = NULL;
    check(cudaMalloc((void **)&d, N * sizeof(float)), "cudaMalloc");
    return d;
}

/* Controls: the correct uses, which must run clean. */
static int copy_back(void)
{
    float *d = device_buffer(), h[N];
    fill<<<1, 128>>>(d, N, 0.5f);
    check(cudaGetLastError(), "launch");
    check(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy");
    for (int i = 0; i < N; i++)
        if (h[i] != 0.5f + (float)i) {
            fprintf(stderr, "emu_selftest: element %d is %g, %g expected\n", i, h[i], 0.5f + (float)i);
            return 1;
        }
    check(cudaFree(d), "cudaFree");
    printf("copy_back: %d elements as written\n", N);
    return 0;
}

static int synced_rotate(void)
{
    int *d = NULL, h[64];
    check(cudaMalloc((void **)&d, sizeof h), "cudaMalloc");
    rotate<<<1, 64>>>(d, true);
    check(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy");
    for (int t = 0; t < 64; t++)
        if (h[t] != (t + 1) % 64) {
            fprintf(stderr, "emu_selftest: thread %d read %d, %d expected\n", t, h[t], (t + 1) % 64);
            return 1;
        }
    printf("synced_rotate: every thread read its neighbour's value\n");
    return 0;
}

/* Faults. Each prints what it saw, if it was not stopped, for the script to judge. */
static int fresh_memory(void)
{
    float *d = device_buffer(), h = 0.0f, *pinned = NULL;
    check(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy");
    check(cudaMallocHost((void **)&pinned, sizeof *pinned), "cudaMallocHost");
    printf("fresh_memory: device %g, pinned %g\n", (double)h, (double)*pinned);
    return 0;
}

static int host_reads_device(void)
{
    float *d = device_buffer();
    fill<<<1, 128>>>(d, N, 0.5f);
    check(cudaStreamSynchronize(0), "cudaStreamSynchronize");
    printf("host read %g from device memory unnoticed\n", (double)d[3]);
    return 0;
}

static int host_writes_device(void)
{
    float *d = device_buffer();
    memset(d, 0, N * sizeof(float)); /* through libc, as a library would */
    printf("host wrote device memory unnoticed\n");
    return 0;
}

static int kernel_overflow(void)
{
    float *d = device_buffer(), h[N];
    fill_one_too_many<<<1, 128>>>(d, N);
    check(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy");
    printf("kernel wrote past its buffer unnoticed\n");
    return 0;
}

static int kernel_gets_host_pointer(void)
{
    float *h = (float *)malloc(N * sizeof(float)); /* pageable: a kernel cannot write it */
    fill<<<1, 128>>>(h, N, 0.5f);
    check(cudaStreamSynchronize(0), "cudaStreamSynchronize");
    printf("a kernel wrote pageable host memory unnoticed: %g\n", (double)h[1]);
    free(h);
    return 0;
}

static int copy_overflow(void)
{
    float *d = device_buffer(), h[N + 1];
    const cudaError_t e = cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    printf("copy past the end: %s\n", cudaGetErrorName(e));
    return 0;
}

static int wrong_direction(void)
{
    float *d = device_buffer(), h[N];
    const cudaError_t e = cudaMemcpy(d, h, sizeof h, cudaMemcpyDeviceToHost);
    printf("copy in the wrong direction: %s\n", cudaGetErrorName(e));
    return 0;
}

static int missing_sync(void)
{
    float *d = device_buffer(), *pinned = NULL;
    cudaStream_t s;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cudaMallocHost((void **)&pinned, N * sizeof(float)), "cudaMallocHost");
    pinned[7] = -1.0f;
    fill<<<1, 128, 0, s>>>(d, N, 0.5f);
    check(cudaMemcpyAsync(pinned, d, N * sizeof(float), cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
    const float before = pinned[7]; /* no cudaStreamSynchronize: the copy may not have run */
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    printf("without a sync: %g; after it: %g\n", (double)before, (double)pinned[7]);
    return 0;
}

static int unsynced_rotate(void)
{
    int *d = NULL, h[64];
    check(cudaMalloc((void **)&d, sizeof h), "cudaMalloc");
    rotate<<<1, 64>>>(d, false);
    check(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy");
    int wrong = 0;
    for (int t = 0; t < 64; t++)
        wrong += h[t] != (t + 1) % 64;
    printf("unsynced_rotate: %d of 64 threads read a value their neighbour had not written\n", wrong);
    return 0;
}

static int blocks_race(void)
{
    int *d = NULL, h = -1;
    check(cudaMalloc((void **)&d, sizeof h), "cudaMalloc");
    claim<<<8, 32>>>(d);
    check(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost), "cudaMemcpy");
    printf("blocks_race: block %d wrote last\n", h);
    return 0;
}

static int deadlock(void)
{
    int *d = NULL;
    check(cudaMalloc((void **)&d, 32 * sizeof(int)), "cudaMalloc");
    split_barrier<<<1, 32>>>(d);
    check(cudaStreamSynchronize(0), "cudaStreamSynchronize");
    printf("a split barrier passed unnoticed\n");
    return 0;
}

static int big_block(void)
{
    float *d = device_buffer();
    fill<<<1, 2048>>>(d, N, 0.0f);
    printf("a block of 2048 threads: %s\n", cudaGetErrorName(cudaGetLastError()));
    return 0;
}

static int big_shared(void)
{
    float *d = device_buffer();
    use_dynamic_shared<<<1, 32, 64 * 1024>>>(d);
    const cudaError_t before = cudaGetLastError();
    check(cudaFuncSetAttribute(use_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024),
          "cudaFuncSetAttribute");
    use_dynamic_shared<<<1, 32, 64 * 1024>>>(d);
    const cudaError_t after = cudaGetLastError();
    check(cudaStreamSynchronize(0), "cudaStreamSynchronize");
    printf("64 KiB of dynamic shared memory: %s before opting in, %s after\n", cudaGetErrorName(before),
           cudaGetErrorName(after));
    return 0;
}

static int big_static_shared(void)
{
    float *d = device_buffer();
    use_big_static_shared<<<1, 32>>>(d);
    check(cudaStreamSynchronize(0), "cudaStreamSynchronize");
    printf("big_static_shared: ran\n");
    return 0;
}

static int double_free(void)
{
    float *d = device_buffer();
    check(cudaFree(d), "cudaFree");
    printf("second cudaFree: %s\n", cudaGetErrorName(cudaFree(d)));
    return 0;
}

static const struct {
    const char *name;
    int (*run)(void);
} cases[] = {
    {"copy_back", copy_back},
    {"synced_rotate", synced_rotate},
    {"fresh_memory", fresh_memory},
    {"host_reads_device", host_reads_device},
    {"host_writes_device", host_writes_device},
    {"kernel_overflow", kernel_overflow},
    {"kernel_gets_host_pointer", kernel_gets_host_pointer},
    {"copy_overflow", copy_overflow},
    {"wrong_direction", wrong_direction},
    {"missing_sync", missing_sync},
    {"unsynced_rotate", unsynced_rotate},
    {"blocks_race", blocks_race},
    {"deadlock", deadlock},
    {"big_block", big_block},
    {"big_shared", big_shared},
    {"big_static_shared", big_static_shared},
    {"double_free", double_free},
};

int main(int argc, char **argv)
{
    if (argc == 2)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            if (!strcmp(argv[1], cases[c].name))
                return cases[c].run();
    fprintf(stderr, "usage: emu_selftest <case>; cases:");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        fprintf(stderr, " %s", cases[c].name);
    fprintf(stderr, "\n");
    return 2;
}
