/* What a GEMM driver needs to know of a micro-kernel: its tile and block sizes and entry points.
   The driver (gemm.c) knows nothing of the instruction set; each kernel_*.c exports one of these.

   The canonical order (batch invariance): every element of C is computed with the same arithmetic
   whatever the shape, its position, the thread count or the path that computes it. K is cut into
   blocks chosen from k and kc alone; inside a block an element's products are summed by one chain,
   acc = 0, acc = acc + a_p * b_p for p in order (one fused multiply-add each on FMA paths); the block
   sums are added to C in block order (c = c + acc, or c = acc for the first block without
   accumulate); the bias is added after the last block (c = c + bias); then the activation. Every
   kernel below keeps this order, so a driver that walks the K blocks in order gets the same bits
   from any of them. */
#ifndef FNN_GEMM_INTERNAL_H
#define FNN_GEMM_INTERNAL_H

#include "../fastnn.h"

/* Computes one MR x NR tile of c over one K block. Step p of row r of A is a[r * rsa + p * csa]: a
   packed panel (rsa = 1, csa = MR) or the matrix itself, either orientation; rows at or past mr are
   never read. Step p of B is the NR floats at b + p * rsb, all readable: a packed panel (rsb = NR) or
   full-width rows of the matrix (rsb = ldb). Only the top-left mr x nr of the tile is read or written:
   c = [c +] acc [+ bias] with load_c choosing the first form; bias (nr entries, or NULL). */
typedef void (*fnn_microkernel)(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb,
                                float *c, idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias);

/* The one-row form of the micro-kernel, over n columns at once: c[0:n] = [c +] a @ B [+ bias] for one
   K block, with the same chain per element as the tile kernel. Step p of a is a[p * csa]. Column j of
   step p is b[(j / NR) * panel_stride + p * rsb + j % NR]: B in place (panel_stride = NR, rsb = ldb)
   or packed panels (panel_stride = NR * k, rsb = NR). Nothing past column n is read. */
typedef void (*fnn_row_kernel)(idx_t k, const float *a, idx_t csa, const float *b, idx_t rsb,
                               idx_t panel_stride, float *c, idx_t n, int load_c, const float *bias);

/* Packs `width` lanes of kc steps whose steps are contiguous in memory into a step-major panel: lane j
   of step p, at src[j * ld + p], goes to panel[p * width + j] for j < valid; lanes valid..width-1 are
   zero. This is how rows of A (or columns of a transposed B) become a micro-kernel's panel: a
   transposition, done in registers on the vector paths. */
typedef void (*fnn_pack_kernel)(float *panel, const float *src, idx_t ld, idx_t kc, idx_t valid, idx_t width);

/* The epilogue's activation over the top-left mr x nr of a tile just written (still in L1): each kernel
   file defines it on activation_math.h, so it runs the vector code of that file's instruction set. */
typedef void (*fnn_tile_activation)(int act, float alpha, float *c, idx_t ldc, idx_t mr, idx_t nr);

/* Runs a register-only multiply-add loop `iterations` times and returns the floating-point operations
   it did: the ceiling of this instruction set on one core. The loop leaves its result in
   fnn_peak_sink, so that the compiler keeps it. */
typedef double (*fnn_peak_loop)(idx_t iterations);
extern volatile float fnn_peak_sink;

typedef struct {
    const char *name;
    fnn_microkernel kernel;
    fnn_tile_activation activate;
    idx_t mr, nr;     /* register tile */
    idx_t mc, kc, nc; /* cache blocks: B panel kc x nr in L1, A block mc x kc in L2, B block kc x nc in L3 */
    fnn_row_kernel row_kernel;
    fnn_pack_kernel pack_strided;
    fnn_peak_loop peak_loop;
} fnn_gemm_config;

/* Each kernel file's config, with the block sizes used when the caches cannot be detected. */
extern const fnn_gemm_config fnn_gemm_scalar_config;
#ifdef FASTNN_X86
extern const fnn_gemm_config fnn_gemm_avx2_config;
extern const fnn_gemm_config fnn_gemm_avx512_config;
#endif

/* The config of the SIMD path in use, with block sizes derived from this CPU's caches (blocking.c). */
const fnn_gemm_config *fnn_gemm_active_config(void);

/* base with mc, kc, nc derived from the caches (levels L1, L2, L3; a level with size 0 is unknown,
   and a block whose cache is unknown keeps base's size). */
fnn_gemm_config fnn_gemm_blocking(const fnn_gemm_config *base, const fnn_cache_level caches[3]);

/* The tile activation every kernel file exports: row by row through activation_math.h. */
#define FNN_DEFINE_TILE_ACTIVATION(name)                                                         \
    static void name(int act, float alpha, float *c, idx_t ldc, idx_t mr, idx_t nr) {            \
        for (idx_t r = 0; r < mr; r++) fnn_activate_span(act, alpha, nr, c + r * ldc, c + r * ldc); \
    }

#endif
