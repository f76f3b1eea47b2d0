/* Device placement (see dk_device.h). */
#include "dk_device.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef DISTKAN_HAVE_CUDA
#include "dk_cuda.h"
#endif

int dk_device_cuda_built(void)
{
#ifdef DISTKAN_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

static int visible_gpus(void)
{
#ifdef DISTKAN_HAVE_CUDA
    return dk_cuda_device_count();
#else
    return 0;
#endif
}

static const char *no_gpu_reason(void)
{
#ifdef DISTKAN_HAVE_CUDA
    return dk_cuda_no_device_reason();
#else
    return "built without CUDA";
#endif
}

dk_err dk_device_choose(dk_device_kind requested, int local_rank, int local_size, dk_device_choice *out)
{
    *out = (dk_device_choice){.kind = DK_DEVICE_CPU, .ordinal = -1};
    snprintf(out->name, sizeof out->name, "cpu");
    if (requested == DK_DEVICE_CPU) {
        snprintf(out->why, sizeof out->why, "[dist] device = cpu");
        return DK_OK;
    }
    if (!dk_device_cuda_built()) {
        if (requested == DK_DEVICE_CUDA)
            DK_ERROR(DK_ERR_USAGE, "[dist] device = cuda, but this distkan was built without the CUDA backend "
                                   "(build it where the CUDA toolkit and NCCL are installed: see docs/gpu.md)");
        snprintf(out->why, sizeof out->why, "device = auto: built without CUDA");
        return DK_OK;
    }
    out->visible = visible_gpus();
    if (out->visible == 0) {
        if (requested == DK_DEVICE_CUDA) {
            const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
            DK_ERROR(DK_ERR_USAGE, "[dist] device = cuda, but rank %d on this node sees no CUDA device "
                                   "(CUDA_VISIBLE_DEVICES=%s; %s)", local_rank, cvd ? cvd : "unset", no_gpu_reason());
        }
        snprintf(out->why, sizeof out->why, "device = auto: no CUDA device visible (%s)", no_gpu_reason());
        return DK_OK;
    }
    out->kind = DK_DEVICE_CUDA;
    out->ordinal = local_rank % out->visible;
    snprintf(out->why, sizeof out->why, "device = %s: local rank %d of %d, %d GPU%s visible",
             requested == DK_DEVICE_AUTO ? "auto" : "cuda", local_rank, local_size, out->visible,
             out->visible == 1 ? "" : "s");
    return DK_OK;
}

dk_err dk_device_activate(dk_device_choice *choice)
{
    if (choice->kind != DK_DEVICE_CUDA)
        return DK_OK;
#ifdef DISTKAN_HAVE_CUDA
    DK_CALL(dk_cuda_set_device(choice->ordinal, choice->name, sizeof choice->name));
    DK_CALL(dk_cuda_bus_id(choice->ordinal, choice->bus, sizeof choice->bus));
    return DK_OK;
#else
    DK_ERROR(DK_ERR_INTERNAL, "a CUDA device was chosen in a build without CUDA");
#endif
}

dk_err dk_device_comm(dk_comm_choice requested, const dk_device_choice *choice, int world_size, dk_comm_choice *out)
{
    *out = DK_COMM_CHOICE_MPI;
    if (choice->kind != DK_DEVICE_CUDA || requested == DK_COMM_CHOICE_MPI)
        return DK_OK;
    /* One rank sums nothing: auto does not start NCCL (its start-up time, its polling wait
     * in every step) for a no-op; the MPI path returns at once. */
    if (requested == DK_COMM_CHOICE_AUTO && world_size == 1)
        return DK_OK;
#ifdef DISTKAN_CUDA_EMULATOR
    /* The CUDA emulator (tests/emu, a test build) has no NCCL: device buffers go through MPI. */
    if (requested == DK_COMM_CHOICE_NCCL)
        DK_ERROR(DK_ERR_USAGE, "[dist] comm = nccl, but this is a CUDA emulator build (tests/emu), which has no "
                               "NCCL; use [dist] comm = mpi or auto");
    return DK_OK;
#endif
    if (choice->shared) {
        if (requested == DK_COMM_CHOICE_NCCL)
            DK_ERROR(DK_ERR_USAGE, "[dist] comm = nccl, but %s: NCCL needs one GPU per rank; use [dist] comm = "
                                   "mpi (or auto) to share GPUs",
                     choice->sharing[0] ? choice->sharing : "ranks share a GPU");
        return DK_OK;
    }
    *out = DK_COMM_CHOICE_NCCL;
    return DK_OK;
}
