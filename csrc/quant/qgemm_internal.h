/* What the int8 GEMM driver (qgemm.c) needs of a micro-kernel. B is packed once (fnn_qgemm_pack_b) into
   panels of FNN_QGEMM_PANEL columns: within a panel, step s (k = 4s .. 4s+3) holds 16 columns of four
   consecutive int8 values each, 64 bytes, so one AVX-512 register is one step of one panel. The packed
   form is the same for every instruction set; only the micro-kernels differ.

   Every product is an integer and every sum an int32 that cannot overflow (k <= FNN_QGEMM_MAX_K), so
   each path gives the exact same integers whatever the summation order: bitwise equality across SIMD
   paths, thread counts and batch sizes comes for free. */
#ifndef FNN_QGEMM_INTERNAL_H
#define FNN_QGEMM_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "../fastnn.h"

/* Column groups: a micro-kernel call covers up to this many panels (64 columns). */
#define FNN_QGEMM_GROUP_PANELS 4
#define FNN_QGEMM_GROUP_COLS (FNN_QGEMM_GROUP_PANELS * FNN_QGEMM_PANEL)

/* tile (mr, panels * 16) int32, row stride FNN_QGEMM_GROUP_COLS, = a (mr, 4 * steps) u8 rows (stride lda)
   @ `panels` packed panels of B (each steps * 64 bytes, `panel_stride` bytes apart). mr <= the
   kernel's config mr, panels <= FNN_QGEMM_GROUP_PANELS. a_7bit: every a value is at most 127. */
typedef void (*fnn_qgemm_kernel)(idx_t steps, const uint8_t *a, idx_t lda, idx_t mr, const int8_t *b,
                                 idx_t panel_stride, idx_t panels, int32_t *tile, int a_7bit);

/* Rows per micro-kernel call on any path (the largest config mr). */
#define FNN_QGEMM_MAX_MR 6

typedef struct {
    const char *name;
    fnn_qgemm_kernel kernel;
    idx_t mr; /* rows per micro-kernel call */
} fnn_qgemm_config;

extern const fnn_qgemm_config fnn_qgemm_scalar_config;
#ifdef FASTNN_X86
extern const fnn_qgemm_config fnn_qgemm_avx2_config;
extern const fnn_qgemm_config fnn_qgemm_avx512_config;
#endif

/* The config of the SIMD path in force (AVX-512 without VNNI runs the AVX2 kernels). */
const fnn_qgemm_config *fnn_qgemm_active_config(void);

/* Receives one finished tile: rows row0 .. row0+mr-1, columns col0 .. col0+nc-1 of the int32 product, at
   tile[r * FNN_QGEMM_GROUP_COLS + j]. Called from the thread that owns those outputs. */
typedef void (*fnn_qgemm_sink)(void *ctx, idx_t row0, idx_t col0, idx_t mr, idx_t nc, const int32_t *tile);

/* a (m, k) u8 @ packed B (k, n), tile by tile into sink, threads splitting the tiles. */
void fnn_qgemm_drive(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *packed, int a_7bit,
                     fnn_qgemm_sink sink, void *sink_ctx);

/* fnn_qdense_forward after its quantization step: rows q (m, round_up(k, 4)) already quantized with
   row_scale and row_zero (m,) (7-bit with reduce_range), y (m, n) gets the dequantized product. */
void fnn_qdense_quantized(idx_t m, idx_t n, idx_t k, const uint8_t *q, const float *row_scale, const int32_t *row_zero,
                          const int8_t *packed, const int32_t *col_sums, const float *w_scale, const float *bias,
                          int act, float alpha, int reduce_range, float *y);

/* Four bytes of a as one int32 (what a broadcast of one step of one row reads). */
static inline int32_t fnn_qgemm_step_bytes(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif
