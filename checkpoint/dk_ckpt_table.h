/* The consistency rules of a checkpoint's tensor table; internal to checkpoint/. */
#ifndef DK_CKPT_TABLE_H
#define DK_CKPT_TABLE_H

#include <stdint.h>

#include "../common/dk_error.h"
#include "checkpoint/dk_checkpoint.pb-c.h"

/* Checks that the tensors of m describe a data region of data_bytes bytes exactly: every
 * name non-empty and unique, a known dtype, at most DK_CKPT_MAX_DIMS dimensions, nbytes =
 * elements x dtype size, chunks non-empty and tiling their tensor in order, and the
 * non-empty tensors tiling [0, data_bytes) without overlap or gap (so that every data byte
 * is under some chunk's CRC). On success *by_name holds the m->n_tensors tensors sorted by
 * name (malloc'ed, NULL when there are none) for dk_ckpt_table_find. Messages start with
 * "<label>: ". The work is O(n log n) in the number of tensors and chunks, whatever a
 * hostile manifest claims. */
dk_err dk_ckpt_table_check(const Dk__Manifest *m, uint64_t data_bytes, const char *label,
                           const Dk__Tensor ***by_name);

/* The tensor called name in by_name (n entries, sorted as above), or NULL. */
const Dk__Tensor *dk_ckpt_table_find(const Dk__Tensor *const *by_name, size_t n, const char *name);

#endif
