/* Where a rank computes: the CPU or one CUDA GPU. Built with or without the CUDA backend;
 * without it only the CPU exists, and asking for a GPU is a clear error.
 *
 * Placement: rank r of a node (its local rank, from MPI_Comm_split_type) uses GPU
 * r mod (GPUs it sees), so `mpirun -np 8` on an 8-GPU node gives each rank its own GPU,
 * and a scheduler that hands each rank one visible GPU (CUDA_VISIBLE_DEVICES) works too.
 * More ranks than GPUs share them round-robin. Whether ranks share a GPU is a fact about
 * physical devices, not counts (a rank that sees one GPU may still have it to itself): the
 * caller compares the activated GPUs' PCI bus ids across the node (dk_comm_find_shared)
 * and sets `shared`. NCCL cannot serve ranks sharing a GPU, so the communication choice
 * then falls back to MPI staging (dk_device_comm).
 */
#ifndef DK_DEVICE_H
#define DK_DEVICE_H

#include <stddef.h>

#include "dk_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The config's [dist] device; also the resolved choice (never AUTO once resolved). */
typedef enum { DK_DEVICE_AUTO = 0, DK_DEVICE_CPU = 1, DK_DEVICE_CUDA = 2 } dk_device_kind;
/* The config's [dist] comm for GPU runs. */
typedef enum { DK_COMM_CHOICE_AUTO = 0, DK_COMM_CHOICE_NCCL = 1, DK_COMM_CHOICE_MPI = 2 } dk_comm_choice;

typedef struct dk_device_choice {
    dk_device_kind kind;   /* CPU or CUDA */
    int ordinal;           /* CUDA: the GPU this rank uses */
    int visible;           /* GPUs this rank sees (0 without the CUDA backend) */
    int shared;            /* CUDA: two ranks use this GPU (set by the caller: see below) */
    char name[128];        /* "cpu" or the GPU's product name */
    char bus[32];          /* CUDA: its PCI bus id, once activated */
    char sharing[200];     /* CUDA, shared: which ranks share which GPU, for messages */
    char why[320];         /* for the log: why auto chose what it chose */
} dk_device_choice;

/* Whether this distkan was built with the CUDA backend. */
int dk_device_cuda_built(void);

/* This rank's choice for `requested`, given its local rank and the number of ranks on its
 * node. Does not select the GPU yet (dk_device_activate does). DK_ERR_USAGE when cuda is
 * requested but unavailable, naming the reason (not built with CUDA, no GPU visible). */
dk_err dk_device_choose(dk_device_kind requested, int local_rank, int local_size, dk_device_choice *out);

/* Makes the chosen GPU current for the calling thread and reads its PCI bus id (no-op for
 * the CPU). */
dk_err dk_device_activate(dk_device_choice *choice);

/* NCCL or MPI staging for a GPU run: what `requested` resolves to on this placement and
 * world size (auto: MPI for a single rank, which has nothing to sum). NCCL when asked for
 * it explicitly with ranks sharing a GPU is a DK_ERR_USAGE. */
dk_err dk_device_comm(dk_comm_choice requested, const dk_device_choice *choice, int world_size, dk_comm_choice *out);

#ifdef __cplusplus
}
#endif

#endif
