/* AVX2 + FMA micro-kernel: a 6x16 register tile (12 accumulators, 2 B vectors, 1 broadcast). */
#include <immintrin.h>
#include "gemm_internal.h"

#define MR 6
#define NR 16

/* Lane j of a column mask is on when j < nr: loaded from this table at offset 16 - nr (and 24 - nr
   for the second vector of a row). Masked-off lanes are not read. */
static const int column_mask_table[32] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};

/* Writes the first nr (< NR) lanes of the row (v0, v1). Masked stores are microcoded and slow on
   AMD cores, so the tail goes through a small stack copy. */
static inline void store_partial_row(float *c_r, idx_t nr, __m256 v0, __m256 v1) {
    float tail[8];
    if (nr >= 8) {
        _mm256_storeu_ps(c_r, v0);
        _mm256_storeu_ps(tail, v1);
        for (idx_t j = 8; j < nr; j++) c_r[j] = tail[j - 8];
    } else {
        _mm256_storeu_ps(tail, v0);
        for (idx_t j = 0; j < nr; j++) c_r[j] = tail[j];
    }
}

/* The epilogue of one tile: c = [c +] acc [+ bias] on the top-left mr x nr. full (a
   compile-time constant after inlining) selects plain loads/stores; edge tiles use row guards and
   column masks (or a partial store) but the same arithmetic, so edge and interior values agree. */
static inline void store_tile(__m256 acc[MR][2], float *c, idx_t ldc, idx_t mr, idx_t nr, int full,
                              int load_c, const float *bias) {
    __m256i mask0 = _mm256_loadu_si256((const __m256i *)(column_mask_table + 16 - nr));
    __m256i mask1 = _mm256_loadu_si256((const __m256i *)(column_mask_table + 24 - nr));
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias) {
        bias0 = full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, mask0);
        bias1 = full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, mask1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        if (!full && r >= mr) break;
        float *c_r = c + r * ldc;
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (load_c) {
            v0 = _mm256_add_ps(full ? _mm256_loadu_ps(c_r) : _mm256_maskload_ps(c_r, mask0), v0);
            v1 = _mm256_add_ps(full ? _mm256_loadu_ps(c_r + 8) : _mm256_maskload_ps(c_r + 8, mask1), v1);
        }
        if (bias) { v0 = _mm256_add_ps(v0, bias0); v1 = _mm256_add_ps(v1, bias1); }
        if (full) {
            _mm256_storeu_ps(c_r, v0);
            _mm256_storeu_ps(c_r + 8, v1);
        } else {
            store_partial_row(c_r, nr, v0, v1);
        }
    }
}

/* acc[0:rows] += A rows @ B panel over k steps. rows is a compile-time constant after inlining: a
   tile with at most half its rows runs the half-height loop, so a 32-row problem's last 2-row tile
   costs half a tile rather than a whole one. */
static inline void accumulate_rows(const int rows, __m256 acc[MR][2], idx_t k, const float *const a_row[MR],
                                   idx_t csa, const float *b, idx_t rsb) {
#pragma GCC unroll 4
    for (idx_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * rsb), b1 = _mm256_loadu_ps(b + p * rsb + 8);
#pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            __m256 a_r = _mm256_broadcast_ss(a_row[r] + p * csa);
            acc[r][0] = _mm256_fmadd_ps(a_r, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a_r, b1, acc[r][1]);
        }
    }
}

// a is (mr, k) with strides (rsa, csa), b is (k, NR) with row stride rsb, c is (mr, nr) of an (., ldc) matrix
static void sgemm_avx2_6x16(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb,
                            float *c, idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias) {
    const float *a_row[MR];
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        a_row[r] = a + FNN_MIN(r, mr - 1) * rsa;  /* rows past mr repeat the last one, never stored */
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    }
    if (mr > MR / 2)
        accumulate_rows(MR, acc, k, a_row, csa, b, rsb);
    else
        accumulate_rows(MR / 2, acc, k, a_row, csa, b, rsb);
    if (mr == MR && nr == NR)
        store_tile(acc, c, ldc, MR, NR, 1, load_c, bias);
    else
        store_tile(acc, c, ldc, mr, nr, 0, load_c, bias);
}

/* kc 384: a 384-step B panel (24 KiB) stays in L1 beside the A rows a tile reads, and C is reloaded
   a third less often than with 256; the A block (mc 96 x kc) keeps to ~150 KiB of L2. Measured on
   Zen 4: ~3 % faster than 144 x 256 on the mid-size and 1024^3 products. */
FNN_DEFINE_TILE_ACTIVATION(activate_tile_avx2)

const fnn_gemm_config fnn_gemm_avx2_config = {"avx2_6x16", sgemm_avx2_6x16, activate_tile_avx2, MR, NR, 96, 384, 4080};
