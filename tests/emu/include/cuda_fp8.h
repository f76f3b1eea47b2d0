/* The CUDA emulator's cuda_fp8.h: empty. nccl.h includes it, and uses none of its types in the
 * calls distkan makes; the toolkit's own would pull in the toolkit's runtime headers. */
#ifndef DK_EMU_CUDA_FP8_H
#define DK_EMU_CUDA_FP8_H
#endif
