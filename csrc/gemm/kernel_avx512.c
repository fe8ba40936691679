/* AVX-512 micro-kernel: a 12x32 register tile (24 accumulators, 2 B vectors, 1 broadcast). */
#include <string.h>
#ifdef FNN_EMULATE_AVX512
/* Test builds on CPUs without AVX-512 map the intrinsics to SIMDe's portable versions. */
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#else
#include <immintrin.h>
#endif
#include "gemm_internal.h"

#define MR 12
#define NR 32

// acc is the (MR, NR) tile; c is (MR, NR) of an (., ldc) matrix; bias is (NR,) or NULL
static inline void store_tile(__m512 acc[MR][2], float *c, idx_t ldc, int load_c, const float *bias) {
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) { bias0 = _mm512_loadu_ps(bias); bias1 = _mm512_loadu_ps(bias + 16); }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        __m512 v0 = acc[r][0], v1 = acc[r][1];
        if (load_c) {
            v0 = _mm512_add_ps(_mm512_loadu_ps(c + r * ldc), v0);
            v1 = _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + 16), v1);
        }
        if (bias) { v0 = _mm512_add_ps(v0, bias0); v1 = _mm512_add_ps(v1, bias1); }
        _mm512_storeu_ps(c + r * ldc, v0);
        _mm512_storeu_ps(c + r * ldc + 16, v1);
    }
}

// a is (mr, k) with strides (rsa, csa), b is (k, NR) with row stride rsb, c is (mr, nr) of an (., ldc) matrix
static void sgemm_avx512_12x32(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb,
                               float *c, idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias) {
    const float *a_row[MR];
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        a_row[r] = a + FNN_MIN(r, mr - 1) * rsa;  /* rows past mr repeat the last one, never stored */
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    }
#pragma GCC unroll 2
    for (idx_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(b + p * rsb), b1 = _mm512_loadu_ps(b + p * rsb + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512 a_r = _mm512_set1_ps(a_row[r][p * csa]);
            acc[r][0] = _mm512_fmadd_ps(a_r, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a_r, b1, acc[r][1]);
        }
    }
    if (mr == MR && nr == NR) {
        store_tile(acc, c, ldc, load_c, bias);
        return;
    }
    float tile[MR * NR], tile_bias[NR] = {0};
    memset(tile, 0, sizeof(tile));
    if (load_c)
        for (idx_t r = 0; r < mr; r++) memcpy(tile + r * NR, c + r * ldc, nr * sizeof(float));
    if (bias) memcpy(tile_bias, bias, nr * sizeof(float));
    store_tile(acc, tile, NR, load_c, bias ? tile_bias : NULL);
    for (idx_t r = 0; r < mr; r++) memcpy(c + r * ldc, tile + r * NR, nr * sizeof(float));
}

FNN_DEFINE_TILE_ACTIVATION(activate_tile_avx512)

const fnn_gemm_config fnn_gemm_avx512_config = {"avx512_12x32", sgemm_avx512_12x32, activate_tile_avx512, MR, NR, 144, 256, 4096};
