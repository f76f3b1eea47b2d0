/* The device communicator's MPI backend (see dk_comm_device_impl.h): collectives on device
 * buffers staged chunk by chunk through a pinned host buffer, so that several ranks can
 * share one GPU (which NCCL refuses), with the CPU path's summation order. */
#include "../common/dk_cuda.h"
#include "dk_comm_device_impl.h"

/* Chunk by chunk: device -> staging on the compute stream (after the work that produced the
 * buffer), MPI on the host, staging -> device. The chunking is a pure function of the count,
 * so every rank issues the same calls. */
dk_err dk_comm_staged_allreduce(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    if (c->size == 1 || count == 0)
        return DK_OK; /* the sum over one rank is the buffer itself */
    size_t elem = dk_dtype_size(dtype), per = STAGE_CHUNK / elem;
    char *p = buf;
    for (size_t done = 0; done < count;) {
        size_t n = count - done < per ? count - done : per;
        DK_CUDA_CALL(cudaMemcpyAsync(d->stage, p + done * elem, n * elem, cudaMemcpyDeviceToHost, d->compute),
                     "copy to the MPI staging buffer");
        DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy to the MPI staging buffer");
        MPI_CHECK_WATCHED(
            c, "MPI_Allreduce (a sum, staged)",
            MPI_Allreduce(MPI_IN_PLACE, d->stage, (int)n, dtype == DK_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, c->world));
        /* The next chunk's copy out is queued behind this copy in, so the staging buffer is
         * not overwritten early. */
        DK_CUDA_CALL(cudaMemcpyAsync(p + done * elem, d->stage, n * elem, cudaMemcpyHostToDevice, d->compute),
                     "copy from the MPI staging buffer");
        done += n;
    }
    DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy from the MPI staging buffer");
    return DK_OK;
}

dk_err dk_comm_staged_broadcast(dk_comm *c, void *buf, size_t bytes, int root)
{
    struct dk_comm_device *d = c->dev;
    if (c->size == 1 || bytes == 0)
        return DK_OK;
    char *p = buf;
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < STAGE_CHUNK ? bytes - done : STAGE_CHUNK;
        if (c->rank == root) {
            DK_CUDA_CALL(cudaMemcpyAsync(d->stage, p + done, n, cudaMemcpyDeviceToHost, d->compute),
                         "copy to the MPI staging buffer");
        }
        DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy to/from the MPI staging buffer");
        MPI_CHECK_WATCHED(c, "MPI_Bcast (staged)", MPI_Bcast(d->stage, (int)n, MPI_BYTE, root, c->world));
        if (c->rank != root) {
            DK_CUDA_CALL(cudaMemcpyAsync(p + done, d->stage, n, cudaMemcpyHostToDevice, d->compute),
                         "copy from the MPI staging buffer");
        }
        done += n;
    }
    DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy from the MPI staging buffer");
    return DK_OK;
}
