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

/* exp(x): the same reduction and polynomial as the AVX2 kernel, on 16 lanes; scalef applies 2^n. */
static inline __m512 exp_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 sigmoid_avx512(__m512 x) {
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* tanh: odd Taylor polynomial below |x| = 0.25, (1-e)/(1+e) with e = exp(-2|x|) above. */
static inline __m512 tanh_avx512(__m512 x) {
    __m512 ax = _mm512_abs_ps(x);
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = exp_avx512(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
    __m512 far = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
    __m512 x2 = _mm512_mul_ps(ax, ax);
    __m512 p = _mm512_set1_ps(62.0f / 2835.0f);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-17.0f / 315.0f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.0f / 15.0f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.0f / 3.0f));
    __m512 near = _mm512_fmadd_ps(_mm512_mul_ps(p, x2), ax, ax);
    __mmask16 is_near = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.25f), _CMP_LT_OQ);
    __m512 t = _mm512_mask_blend_ps(is_near, far, near);
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
}

static inline __m512 activate_avx512(__m512 v, int act) {
    switch (act) {
    case FNN_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case FNN_ACT_SIGMOID: return sigmoid_avx512(v);
    case FNN_ACT_TANH: return tanh_avx512(v);
    default: return v;
    }
}

// acc is the (MR, NR) tile; c is (MR, NR) of an (., ldc) matrix; bias is (NR,) or NULL
static inline void store_tile(__m512 acc[MR][2], float *c, idx_t ldc, int load_c, const float *bias, int act) {
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
        _mm512_storeu_ps(c + r * ldc, activate_avx512(v0, act));
        _mm512_storeu_ps(c + r * ldc + 16, activate_avx512(v1, act));
    }
}

// a is (mr, k) with strides (rsa, csa), b is (k, NR) with row stride rsb, c is (mr, nr) of an (., ldc) matrix
static void sgemm_avx512_12x32(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb,
                               float *c, idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias, int act) {
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
        store_tile(acc, c, ldc, load_c, bias, act);
        return;
    }
    float tile[MR * NR], tile_bias[NR] = {0};
    memset(tile, 0, sizeof(tile));
    if (load_c)
        for (idx_t r = 0; r < mr; r++) memcpy(tile + r * NR, c + r * ldc, nr * sizeof(float));
    if (bias) memcpy(tile_bias, bias, nr * sizeof(float));
    store_tile(acc, tile, NR, load_c, bias ? tile_bias : NULL, act);
    for (idx_t r = 0; r < mr; r++) memcpy(c + r * ldc, tile + r * NR, nr * sizeof(float));
}

const fnn_gemm_config fnn_gemm_avx512_config = {"avx512_12x32", sgemm_avx512_12x32, MR, NR, 144, 256, 4096};
