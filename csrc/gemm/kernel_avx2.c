/* AVX2 + FMA micro-kernels: a 6x16 register tile (12 accumulators, 2 B vectors, 1 broadcast) and the
   one-row kernel (kernel_simd.h over 8-float vectors). */
#include <immintrin.h>
#include "gemm_internal.h"

#define MR 6
#define NR 16
#define LANES 8

typedef __m256 vec;
#define vec_zero() _mm256_setzero_ps()
#define vec_load(p) _mm256_loadu_ps(p)
#define vec_store(p, v) _mm256_storeu_ps(p, v)
#define vec_set1(x) _mm256_set1_ps(x)
#define vec_fma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vec_add(a, b) _mm256_add_ps(a, b)

/* Lane j of a mask is on when j < n: loaded from this table at offset 8 - n. */
static const int lane_mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1};

static inline __m256 load_lanes(const float *p, idx_t n) {
    __m256i mask = _mm256_loadu_si256((const __m256i *)(lane_mask_table + LANES - FNN_MIN(FNN_MAX(n, 0), LANES)));
    return _mm256_maskload_ps(p, mask);
}

/* Masked stores are microcoded and slow on AMD cores, so a partial vector goes through a stack copy. */
static inline void store_lanes(float *p, idx_t n, __m256 v) {
    if (n >= LANES) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float lanes[LANES];
    _mm256_storeu_ps(lanes, v);
    for (idx_t j = 0; j < FNN_MIN(n, LANES); j++) p[j] = lanes[j];
}

/* r[i][j] <-> r[j][i]: rows interleaved in pairs, then in fours within each 128-bit lane (lane L of
   s[c] holds rows 0-3 or 4-7 of column 4L + c), then the 128-bit lanes swapped into place. */
static inline void transpose(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int q = 0; q < 8; q += 4) {
        s[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
        s[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xEE);
        s[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
        s[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
    }
}

/* The blocks when the caches are unknown. kc 384: a 384-step B panel (24 KiB) stays in L1 beside the A
   rows a tile reads; the A block (mc 96 x kc) keeps to ~150 KiB of L2. Measured on Zen 4: ~3 % faster
   than 144 x 256 on the mid-size and 1024^3 products. */
#define KERNEL_NAME "avx2_6x16"
#define KERNEL_CONFIG fnn_gemm_avx2_config
#define DEFAULT_MC 96
#define DEFAULT_KC 384
#define DEFAULT_NC 4080
#include "kernel_simd.h"
