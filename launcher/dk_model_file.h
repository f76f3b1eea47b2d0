/* A trained model's part of a checkpoint: the tensors of every layer (coefficients,
 * scales, knots, masks) and the manifest's Model message. The training checkpoints write
 * them (dk_train_checkpoint.c, with the optimiser's state beside them); the tools that use
 * a trained model (`distkan predict`, `distkan functions`) read them back into a network
 * with dk_model_load. One table of names and shapes serves both, so the two cannot
 * disagree about what a checkpoint holds. */
#ifndef DK_MODEL_FILE_H
#define DK_MODEL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "../checkpoint/dk_ckpt_file.h"
#include "../layers/dk_network.h"
#include "checkpoint/dk_checkpoint.pb-c.h"

/* A tensor of a run's state: its name in the checkpoint and where it lives in memory. */
typedef struct dk_state_tensor {
    char name[48];
    dk_dtype dtype;
    int n_dims;
    unsigned long long shape[4];
    size_t count;
    void *data;
} dk_state_tensor;

/* t = the tensor `name` of dtype at data, with the first n_dims (<= 3) of d0, d1, d2 as
 * its shape. */
void dk_state_tensor_set(dk_state_tensor *t, const char *name, dk_dtype dtype, void *data, int n_dims,
                         unsigned long long d0, unsigned long long d1, unsigned long long d2);

enum { DK_MODEL_TENSORS_PER_LAYER = 5 };

/* Fills t[0 .. 5 n_layers) with layer l's "layers.<l>.coef" [in][out][G+k],
 * ".scale_base", ".scale_sp", ".mask" [in][out] and ".knots" [in][G+2k+1], pointing into
 * net's parameter and state buffers; returns how many. */
int dk_model_tensors(const dk_network *net, dk_state_tensor *t);

/* The manifest's Model message of a network and the storage it points to. */
typedef struct dk_model_manifest {
    Dk__Model model;
    Dk__Layer layers[DK_NETWORK_MAX_LAYERS];
    Dk__Layer *layer_ptrs[DK_NETWORK_MAX_LAYERS];
    int32_t widths[DK_NETWORK_MAX_LAYERS + 1];
} dk_model_manifest;

/* Fills p from net; p->model then describes it (its pointers lead into p). */
void dk_model_manifest_fill(dk_model_manifest *p, const dk_network *net);

/* Checks the values of a model just read from a checkpoint: finite parameters, knots
 * finite and strictly increasing per input (what the kernels need), masks 0 or 1. A file
 * that verifies was written by distkan, which writes nothing else (training stops before it
 * would checkpoint an overflowed update), so this fails only on a file made or edited by
 * other means; the error (DK_ERR_DATA) names `label`, the tensor and the element. */
dk_err dk_model_check_values(const dk_network *net, const char *label);
/* The manifest's model table: 2 to DK_NETWORK_MAX_LAYERS + 1 widths, a precision, G and
 * k in range, and one layer per pair of widths with the shapes they give (DK_ERR_DATA
 * naming label). dk_model_read checks this and the tensors' sizes; a resume, whose network
 * is built from the config, this. */
dk_err dk_model_check_layers(const Dk__Model *m, const char *label);

/* How those errors end: the likely cause. */
#define DK_FOREIGN_VALUE_HINT "distkan does not write such a value: was the file edited, or made by other means?"

/* The checkpoint directory of a run directory: the [checkpoint] dir its config.ini names
 * (the setting of the run that wrote it last: a checkpoints/ beside it may be an earlier
 * run's, a stale model), else <run_dir>/checkpoints, in dir[capacity]. An error when
 * config.ini names a dir that is not there. */
dk_err dk_model_run_checkpoint_dir(const char *run_dir, char *dir, size_t capacity);
/* The error for a run directory whose checkpoint directory `dir` holds no checkpoint:
 * naming the cause when its config.ini says the run wrote none ([checkpoint] final =
 * false, no every or every_seconds). Always returns an error (DK_ERR_IO). */
dk_err dk_model_run_without_checkpoints(const char *run_dir, const char *dir);

/* A trained model as the tools that use one read it back. */
typedef struct dk_trained_model {
    dk_network *net;
    char *source;       /* the checkpoint file it was read from */
    char **input_names; /* the training CSV's input columns, net->widths[0] of them; NULL when the
                         * checkpoint names none (a built-in function, a PDE, an older version) */
} dk_trained_model;

/* The trained model stored in `path`: a checkpoint file, a directory of checkpoints, or a
 * run directory (whose checkpoints/ is used when it holds none itself). A directory gives
 * its newest checkpoint that verifies; newer ones that fail are skipped with a warning on
 * `warnings` (if not NULL). A file is verified whole (every chunk's CRC) before use. The
 * network is then read as dk_model_read does. Errors name the path and what is wrong: no
 * checkpoint, a damaged file (DK_ERR_DATA), a model that dk_model_read refuses; out is
 * then all NULL. Free with dk_trained_model_free. */
dk_err dk_model_load(const char *path, int max_batch, int n_threads, int jet, FILE *warnings, dk_trained_model *out);
void dk_trained_model_free(dk_trained_model *m);

/* The model of a checkpoint already open and verified: builds a CPU network of the model's
 * widths, G, k and precision with room for max_batch rows (with buffers for
 * dk_network_jet_forward when `jet`), and loads every layer's parameters, knots and mask
 * into it, the model as training left it. Refuses (DK_ERR_DATA) a model whose layer shapes
 * or tensors do not add up, or whose values dk_model_check_values refuses. */
dk_err dk_model_read(dk_ckpt_reader *reader, int max_batch, int n_threads, int jet, dk_network **net);

#endif
