/* A KAN's device mirror for the CUDA backend.
 *
 * The host dk_network (dk_network.h) stays the owner of the model: its layout, its
 * initialisation, grid extension and grid updates, checkpoints. The mirror holds the same
 * flat buffers on the GPU, in the same layout (params, grads with DK_GRAD_EXTRA spare
 * slots, state), plus device activations and the kernels' workspace, and runs the chains
 * of layer kernels (kernels/dk_kan_cuda.h) on its stream. Copies between the two happen
 * only when the host must see the model: before a grid change, a checkpoint or the final
 * outputs, and after a restore. Training steps themselves move no model data.
 *
 * Built only with the CUDA backend. All calls are asynchronous on the mirror's stream
 * unless they say otherwise; nothing is allocated after creation.
 */
#ifndef DK_NETWORK_CUDA_H
#define DK_NETWORK_CUDA_H

#include "dk_network.h"

typedef struct dk_network_cuda {
    const dk_network *host; /* the layout this mirror was made for; may be gone when the
                             * mirror is destroyed (grid extension replaces the network) */
    int n_layers;           /* host->n_layers, kept for destroy */
    void *stream;           /* cudaStream_t the kernels run on (not owned) */
    void *params, *grads, *state;
    void **acts, **dacts;   /* as in dk_network; acts[0] and dacts[n_layers] are the caller's */
    void **jet1, **jet2, **gjet1, **gjet2;
    void *workspace;
    size_t device_bytes;    /* everything above, for the log */
} dk_network_cuda;

/* Allocates the mirror of `net` (same widths, G, k, dtype, max_batch, jet buffers) and
 * uploads its parameters and state. */
dk_err dk_network_cuda_create(dk_network_cuda **out, const dk_network *net, void *stream);
void dk_network_cuda_destroy(dk_network_cuda **d);

/* Host -> device: parameters and state (grids, masks). Waits for the copy. */
dk_err dk_network_cuda_upload(dk_network_cuda *d, const dk_network *net);
/* Device -> host: parameters and state. Waits for the copy. */
dk_err dk_network_cuda_download(const dk_network_cuda *d, dk_network *net);

/* As dk_network_forward etc. (x, dout, gu... are device pointers); *out receives the
 * device output, valid until the next forward. */
dk_err dk_network_cuda_forward(dk_network_cuda *d, long rows, const void *x, const void **out);
dk_err dk_network_cuda_backward(dk_network_cuda *d, long rows, const void *dout);
dk_err dk_network_cuda_jet_forward(dk_network_cuda *d, long rows, const void *x, const void **u, const void **u1,
                                   const void **u2);
dk_err dk_network_cuda_jet_backward(dk_network_cuda *d, long rows, const void *gu, const void *gu1, const void *gu2);

#endif
