/* Counts the heap allocations distkan's own code makes, for tests/mpi/test_step_allocations.sh.
 *
 * Linked into a second distkan binary (distkan_alloc_counted) with -Wl,--wrap for each
 * allocating function below (malloc and its kin; the stdio streams, directory streams,
 * getline and realpath that distkan uses, which allocate inside the C library): the linker then sends every call that distkan's objects make to
 * __wrap_NAME, which counts it and calls the C library's (__real_NAME). Calls from inside
 * shared libraries (Open MPI, OpenBLAS, the C library's own stdio) are not redirected, so
 * the counts are distkan's allocations only, which is what the brief's rule "no allocation
 * in the training step" is about.
 *
 * With DK_ALLOC_STATS=PREFIX in the environment, each process writes "counter value" lines
 * to PREFIX.RANK at exit (the rank from the launcher's environment, 0 without one). */
#include <dirent.h>
#include <stdio.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_posix_memalign(void **out, size_t alignment, size_t size);
char *__real_strdup(const char *s);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fdopen(int fd, const char *mode);
FILE *__real_fmemopen(void *buf, size_t size, const char *mode);
FILE *__real_open_memstream(char **buf, size_t *size);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
char *__real_realpath(const char *path, char *resolved);
DIR *__real_opendir(const char *path);

/* Plain counters: distkan allocates from its main thread only (OpenMP regions compute
 * into buffers allocated before them). */
static unsigned long n_malloc, n_calloc, n_realloc, n_aligned, n_strdup, n_fopen, n_opendir, n_getline, n_realpath;

void *__wrap_malloc(size_t size) { n_malloc++; return __real_malloc(size); }
void *__wrap_calloc(size_t count, size_t size) { n_calloc++; return __real_calloc(count, size); }
void *__wrap_realloc(void *p, size_t size) { n_realloc++; return __real_realloc(p, size); }
void *__wrap_aligned_alloc(size_t alignment, size_t size) { n_aligned++; return __real_aligned_alloc(alignment, size); }
int __wrap_posix_memalign(void **out, size_t alignment, size_t size)
{
    n_aligned++;
    return __real_posix_memalign(out, alignment, size);
}
char *__wrap_strdup(const char *s) { n_strdup++; return __real_strdup(s); }
/* A FILE and a DIR hold a buffer from the heap: opening one is an allocation too. */
FILE *__wrap_fopen(const char *path, const char *mode) { n_fopen++; return __real_fopen(path, mode); }
FILE *__wrap_fdopen(int fd, const char *mode) { n_fopen++; return __real_fdopen(fd, mode); }
FILE *__wrap_fmemopen(void *buf, size_t size, const char *mode) { n_fopen++; return __real_fmemopen(buf, size, mode); }
FILE *__wrap_open_memstream(char **buf, size_t *size) { n_fopen++; return __real_open_memstream(buf, size); }
DIR *__wrap_opendir(const char *path) { n_opendir++; return __real_opendir(path); }
/* getline may grow its buffer on any call: counted as one allocation per call. */
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f) { n_getline++; return __real_getline(line, cap, f); }
/* realpath allocates only when it is given no buffer. */
char *__wrap_realpath(const char *path, char *resolved)
{
    n_realpath += resolved == NULL;
    return __real_realpath(path, resolved);
}

static const char *rank_from_environment(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return getenv(vars[i]);
    return "0";
}

__attribute__((destructor)) static void write_counts(void)
{
    const char *prefix = getenv("DK_ALLOC_STATS");
    if (!prefix)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", prefix, rank_from_environment());
    FILE *f = __real_fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    fprintf(f, "malloc %lu\ncalloc %lu\nrealloc %lu\naligned_alloc %lu\nstrdup %lu\nfopen %lu\nopendir %lu\n"
            "getline %lu\nrealpath %lu\n",
            n_malloc, n_calloc, n_realloc, n_aligned, n_strdup, n_fopen, n_opendir, n_getline, n_realpath);
    fclose(f);
}
