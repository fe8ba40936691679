/* What the GEMM driver needs to know of a micro-kernel: its tile and block sizes and entry point.
   The driver (gemm.c) knows nothing of the instruction set; each kernel_*.c exports one of these. */
#ifndef FNN_GEMM_INTERNAL_H
#define FNN_GEMM_INTERNAL_H

#include "../fastnn.h"

/* Computes one MR x NR tile of c. Step p of row r of A is a[r * rsa + p * csa]: a packed panel
   (rsa = 1, csa = MR) or the matrix itself, either orientation; rows at or past mr are never read.
   Step p of B is the NR floats at b + p * rsb, all readable: a packed panel (rsb = NR) or full-width
   rows of the matrix (rsb = ldb). Only the top-left mr x nr of the tile is written. With load_c the
   tile adds to c; bias (nr entries, or NULL) is added after the sum. */
typedef void (*fnn_microkernel)(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb,
                                float *c, idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias);

/* The epilogue's activation over the top-left mr x nr of a tile just written (still in L1): each kernel
   file defines it on activation_math.h, so it runs the vector code of that file's instruction set. */
typedef void (*fnn_tile_activation)(int act, float alpha, float *c, idx_t ldc, idx_t mr, idx_t nr);

typedef struct {
    const char *name;
    fnn_microkernel kernel;
    fnn_tile_activation activate;
    idx_t mr, nr;   /* register tile */
    idx_t mc, kc, nc; /* cache blocks: A block mc x kc stays in L2, B panel kc x nr in L1 */
} fnn_gemm_config;

extern const fnn_gemm_config fnn_gemm_scalar_config;
#ifdef FASTNN_X86
extern const fnn_gemm_config fnn_gemm_avx2_config;
extern const fnn_gemm_config fnn_gemm_avx512_config;
#endif

/* The tile activation every kernel file exports: row by row through activation_math.h. */
#define FNN_DEFINE_TILE_ACTIVATION(name)                                                         \
    static void name(int act, float alpha, float *c, idx_t ldc, idx_t mr, idx_t nr) {            \
        for (idx_t r = 0; r < mr; r++) fnn_activate_span(act, alpha, nr, c + r * ldc, c + r * ldc); \
    }

#endif
