/* compare_ckpt A.dkc B.dkc
 *
 * Exits 0 when two checkpoints hold the same run state: every tensor byte for byte, and
 * every manifest part but the metadata (time, host, wall time, reason) and the config text
 * (which names the run directory) compared as packed protobuf bytes. Both files are
 * verified first. Used to show that a resumed run reaches exactly the state of the
 * uninterrupted one, field by field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/dk_ckpt_file.h"

/* Packs a message (NULL packs to nothing) into a malloc'ed buffer. */
static unsigned char *pack(const ProtobufCMessage *m, size_t *size)
{
    *size = m ? protobuf_c_message_get_packed_size(m) : 0;
    unsigned char *buf = malloc(*size ? *size : 1);
    if (buf && m)
        protobuf_c_message_pack(m, buf);
    return buf;
}

static int same_message(const char *what, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na, nb;
    unsigned char *pa = pack(a, &na), *pb = pack(b, &nb);
    int same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    if (!same)
        fprintf(stderr, "compare_ckpt: the %s differs (%zu vs %zu packed bytes)\n", what, na, nb);
    free(pa);
    free(pb);
    return same;
}

static dk_dtype dtype_of(const Dk__Tensor *t) { return t->dtype == DK__DTYPE__F32 ? DK_F32 : DK_F64; }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: compare_ckpt A.dkc B.dkc\n");
        return 2;
    }
    dk_ckpt_reader *ra = NULL, *rb = NULL;
    if (dk_ckpt_open(&ra, argv[1]) != DK_OK || dk_ckpt_verify(ra) != DK_OK || dk_ckpt_open(&rb, argv[2]) != DK_OK ||
        dk_ckpt_verify(rb) != DK_OK) {
        fprintf(stderr, "compare_ckpt: %s\n", dk_error_message());
        return 2;
    }
    const Dk__Manifest *a = dk_ckpt_manifest(ra), *b = dk_ckpt_manifest(rb);
    int same = same_message("model", &a->model->base, &b->model->base);
    same &= same_message("schedule", a->schedule ? &a->schedule->base : NULL, b->schedule ? &b->schedule->base : NULL);
    same &= same_message("Adam state", a->adam ? &a->adam->base : NULL, b->adam ? &b->adam->base : NULL);
    same &= same_message("L-BFGS state", a->lbfgs ? &a->lbfgs->base : NULL, b->lbfgs ? &b->lbfgs->base : NULL);
    same &= same_message("data position", a->data ? &a->data->base : NULL, b->data ? &b->data->base : NULL);
    same &= same_message("loss", a->loss ? &a->loss->base : NULL, b->loss ? &b->loss->base : NULL);
    same &= same_message("evaluation", a->eval ? &a->eval->base : NULL, b->eval ? &b->eval->base : NULL);
    if (a->n_tensors != b->n_tensors) {
        fprintf(stderr, "compare_ckpt: %zu vs %zu tensors\n", a->n_tensors, b->n_tensors);
        same = 0;
    }
    size_t n_tensors = a->n_tensors < b->n_tensors ? a->n_tensors : b->n_tensors, bytes = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const Dk__Tensor *ta = a->tensors[i], *tb = dk_ckpt_find(rb, ta->name);
        if (!tb || tb->nbytes != ta->nbytes || tb->dtype != ta->dtype) {
            fprintf(stderr, "compare_ckpt: tensor '%s' is missing or shaped differently in %s\n", ta->name, argv[2]);
            same = 0;
            continue;
        }
        size_t es = dk_dtype_size(dtype_of(ta)), count = ta->nbytes / es;
        unsigned char *da = malloc(ta->nbytes + 1), *db = malloc(ta->nbytes + 1);
        if (!da || !db || dk_ckpt_read_tensor(ra, ta->name, dtype_of(ta), count, da) != DK_OK ||
            dk_ckpt_read_tensor(rb, ta->name, dtype_of(ta), count, db) != DK_OK) {
            fprintf(stderr, "compare_ckpt: %s\n", dk_error_message());
            return 2;
        }
        if (memcmp(da, db, ta->nbytes) != 0) {
            size_t first = 0;
            while (da[first] == db[first])
                first++;
            fprintf(stderr, "compare_ckpt: tensor '%s' differs (first at byte %zu of %llu)\n", ta->name, first,
                    (unsigned long long)ta->nbytes);
            same = 0;
        }
        bytes += ta->nbytes;
        free(da);
        free(db);
    }
    printf("compare_ckpt: %s: %zu tensors (%zu bytes) and the manifests' model, schedule, optimiser, data, loss and "
           "evaluation parts\n",
           same ? "identical" : "DIFFERENT", n_tensors, bytes);
    dk_ckpt_close(&ra);
    dk_ckpt_close(&rb);
    return same ? 0 : 1;
}
