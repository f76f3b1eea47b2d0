/* A KAN's device mirror: allocation, copies and the layer chains (see dk_network_cuda.h). */
#include "dk_network_cuda.h"

#include <stdlib.h>

#include "../common/dk_cuda.h"
#include "../kernels/dk_kan_cuda.h"

static dk_err alloc_table(void ***table, int n, const char *what) { return dk_calloc((void **)table, (size_t)n, sizeof(void *), what); }

static dk_err device_buffer(dk_network_cuda *d, void **out, size_t bytes, const char *what)
{
    DK_CALL(dk_cuda_malloc(out, bytes, what));
    d->device_bytes += bytes;
    return DK_OK;
}

static dk_err create_buffers(dk_network_cuda *d, const dk_network *net)
{
    const size_t es = dk_dtype_size(net->dtype), rows = (size_t)net->max_batch;
    const int L = net->n_layers;
    DK_CALL(device_buffer(d, &d->params, net->n_params * es, "parameters"));
    DK_CALL(device_buffer(d, &d->grads, (net->n_params + DK_GRAD_EXTRA) * es, "gradients"));
    DK_CALL(device_buffer(d, &d->state, net->n_state * es, "grids and masks"));
    DK_CALL(alloc_table(&d->acts, L + 1, "device activation table"));
    DK_CALL(alloc_table(&d->dacts, L + 1, "device gradient table"));
    size_t work = 0;
    for (int l = 0; l < L; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        size_t w = dk_kan_cuda_workspace_bytes(sh, net->dtype);
        work = w > work ? w : work;
        DK_CALL(device_buffer(d, &d->acts[l + 1], rows * (size_t)sh->out * es, "activations"));
        if (l > 0)
            DK_CALL(device_buffer(d, &d->dacts[l], rows * (size_t)sh->in * es, "activation gradients"));
    }
    if (net->n_dir > 0) {
        const size_t nd = (size_t)net->n_dir;
        DK_CALL(alloc_table(&d->jet1, L + 1, "device jet table"));
        DK_CALL(alloc_table(&d->jet2, L + 1, "device jet table"));
        DK_CALL(alloc_table(&d->gjet1, L + 1, "device jet gradient table"));
        DK_CALL(alloc_table(&d->gjet2, L + 1, "device jet gradient table"));
        for (int l = 0; l < L; l++) {
            const dk_kan_shape *sh = &net->layers[l].shape;
            size_t w = dk_kan_cuda_jet_workspace_bytes(sh, net->n_dir, net->dtype);
            work = w > work ? w : work;
            size_t bytes = rows * nd * (size_t)sh->out * es;
            DK_CALL(device_buffer(d, &d->jet1[l + 1], bytes, "activation first derivatives"));
            DK_CALL(device_buffer(d, &d->jet2[l + 1], bytes, "activation second derivatives"));
            if (l > 0) {
                size_t in_bytes = rows * nd * (size_t)sh->in * es;
                DK_CALL(device_buffer(d, &d->gjet1[l], in_bytes, "first-derivative gradients"));
                DK_CALL(device_buffer(d, &d->gjet2[l], in_bytes, "second-derivative gradients"));
            }
        }
    }
    DK_CALL(device_buffer(d, &d->workspace, work ? work : 1, "kernel workspace"));
    return DK_OK;
}

dk_err dk_network_cuda_create(dk_network_cuda **out, const dk_network *net, void *stream)
{
    *out = NULL;
    dk_network_cuda *d;
    DK_CALL(DK_CALLOC(d, 1, "device network"));
    d->host = net;
    d->n_layers = net->n_layers;
    d->stream = stream;
    dk_err err = create_buffers(d, net);
    if (!err)
        err = dk_network_cuda_upload(d, net);
    if (err) {
        dk_network_cuda_destroy(&d);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    *out = d;
    return DK_OK;
}

static void free_table(void **table, int from, int to)
{
    for (int l = from; table && l <= to; l++)
        dk_cuda_free(table[l]);
    free(table);
}

void dk_network_cuda_destroy(dk_network_cuda **pd)
{
    if (!pd || !*pd)
        return;
    dk_network_cuda *d = *pd;
    const int L = d->n_layers;
    free_table(d->acts, 1, L);
    free_table(d->dacts, 1, L - 1);
    free_table(d->jet1, 1, L);
    free_table(d->jet2, 1, L);
    free_table(d->gjet1, 1, L - 1);
    free_table(d->gjet2, 1, L - 1);
    dk_cuda_free(d->workspace);
    dk_cuda_free(d->params);
    dk_cuda_free(d->grads);
    dk_cuda_free(d->state);
    free(d);
    *pd = NULL;
}

dk_err dk_network_cuda_upload(dk_network_cuda *d, const dk_network *net)
{
    const size_t es = dk_dtype_size(net->dtype);
    DK_CALL(dk_cuda_to_device(d->params, net->params, net->n_params * es, d->stream));
    DK_CALL(dk_cuda_to_device(d->state, net->state, net->n_state * es, d->stream));
    return DK_OK;
}

dk_err dk_network_cuda_download(const dk_network_cuda *d, dk_network *net)
{
    const size_t es = dk_dtype_size(net->dtype);
    DK_CALL(dk_cuda_to_host(net->params, d->params, net->n_params * es, d->stream));
    DK_CALL(dk_cuda_to_host(net->state, d->state, net->n_state * es, d->stream));
    return DK_OK;
}

/* Layer l's blocks in the device buffers, in both typed forms (only the run's is used). */
typedef struct layer_args {
    dk_kan_params_f64 p64;
    dk_kan_params_f32 p32;
    dk_kan_grads_f64 g64;
    dk_kan_grads_f32 g32;
} layer_args;

static layer_args layer(const dk_network_cuda *d, int l)
{
    const dk_layer_view *v = &d->host->layers[l];
    layer_args a;
    const double *p = d->params, *st = d->state;
    double *g = d->grads;
    const float *pf = d->params, *stf = d->state;
    float *gf = d->grads;
    a.p64 = (dk_kan_params_f64){st + v->grid, p + v->coef, p + v->scale_base, p + v->scale_sp, st + v->mask};
    a.p32 = (dk_kan_params_f32){stf + v->grid, pf + v->coef, pf + v->scale_base, pf + v->scale_sp, stf + v->mask};
    a.g64 = (dk_kan_grads_f64){g + v->coef, g + v->scale_base, g + v->scale_sp};
    a.g32 = (dk_kan_grads_f32){gf + v->coef, gf + v->scale_base, gf + v->scale_sp};
    return a;
}

dk_err dk_network_cuda_forward(dk_network_cuda *d, long rows, const void *x, const void **out)
{
    const dk_network *net = d->host;
    d->acts[0] = (void *)x;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        layer_args a = layer(d, l);
        if (net->dtype == DK_F64)
            DK_CALL(dk_kan_cuda_forward_f64(sh, &a.p64, (int)rows, d->acts[l], d->acts[l + 1], d->workspace, d->stream));
        else
            DK_CALL(dk_kan_cuda_forward_f32(sh, &a.p32, (int)rows, d->acts[l], d->acts[l + 1], d->workspace, d->stream));
    }
    *out = d->acts[net->n_layers];
    return DK_OK;
}

dk_err dk_network_cuda_backward(dk_network_cuda *d, long rows, const void *dout)
{
    const dk_network *net = d->host;
    d->dacts[net->n_layers] = (void *)dout;
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        layer_args a = layer(d, l);
        void *dx = l > 0 ? d->dacts[l] : NULL; /* nobody needs d loss / d input */
        if (net->dtype == DK_F64)
            DK_CALL(dk_kan_cuda_backward_f64(sh, &a.p64, (int)rows, d->acts[l], d->dacts[l + 1], dx, &a.g64,
                                             d->workspace, d->stream));
        else
            DK_CALL(dk_kan_cuda_backward_f32(sh, &a.p32, (int)rows, d->acts[l], d->dacts[l + 1], dx, &a.g32,
                                             d->workspace, d->stream));
    }
    return DK_OK;
}

dk_err dk_network_cuda_jet_forward(dk_network_cuda *d, long rows, const void *x, const void **u, const void **u1,
                                   const void **u2)
{
    const dk_network *net = d->host;
    if (!d->jet1)
        DK_ERROR(DK_ERR_INTERNAL, "jet forward on a device network created without jet buffers");
    d->acts[0] = (void *)x;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        layer_args a = layer(d, l);
        const int first = l == 0; /* the coordinates themselves: identity first derivatives */
        void *x1 = first ? NULL : d->jet1[l], *x2 = first ? NULL : d->jet2[l];
        if (net->dtype == DK_F64)
            DK_CALL(dk_kan_cuda_jet_forward_f64(sh, &a.p64, (int)rows, net->n_dir, first, d->acts[l], x1, x2,
                                                d->acts[l + 1], d->jet1[l + 1], d->jet2[l + 1], d->workspace,
                                                d->stream));
        else
            DK_CALL(dk_kan_cuda_jet_forward_f32(sh, &a.p32, (int)rows, net->n_dir, first, d->acts[l], x1, x2,
                                                d->acts[l + 1], d->jet1[l + 1], d->jet2[l + 1], d->workspace,
                                                d->stream));
    }
    *u = d->acts[net->n_layers];
    *u1 = d->jet1[net->n_layers];
    *u2 = d->jet2[net->n_layers];
    return DK_OK;
}

dk_err dk_network_cuda_jet_backward(dk_network_cuda *d, long rows, const void *gu, const void *gu1, const void *gu2)
{
    const dk_network *net = d->host;
    const int L = net->n_layers;
    d->dacts[L] = (void *)gu;
    d->gjet1[L] = (void *)gu1;
    d->gjet2[L] = (void *)gu2;
    for (int l = L - 1; l >= 0; l--) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        layer_args a = layer(d, l);
        const int first = l == 0; /* nobody needs gradients with respect to the coordinates */
        void *x1 = first ? NULL : d->jet1[l], *x2 = first ? NULL : d->jet2[l];
        void *gx = first ? NULL : d->dacts[l], *gx1 = first ? NULL : d->gjet1[l], *gx2 = first ? NULL : d->gjet2[l];
        if (net->dtype == DK_F64)
            DK_CALL(dk_kan_cuda_jet_backward_f64(sh, &a.p64, (int)rows, net->n_dir, first, d->acts[l], x1, x2,
                                                 d->dacts[l + 1], d->gjet1[l + 1], d->gjet2[l + 1], gx, gx1, gx2,
                                                 &a.g64, d->workspace, d->stream));
        else
            DK_CALL(dk_kan_cuda_jet_backward_f32(sh, &a.p32, (int)rows, net->n_dir, first, d->acts[l], x1, x2,
                                                 d->dacts[l + 1], d->gjet1[l + 1], d->gjet2[l + 1], gx, gx1, gx2,
                                                 &a.g32, d->workspace, d->stream));
    }
    return DK_OK;
}
