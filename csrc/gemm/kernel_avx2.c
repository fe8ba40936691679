/* AVX2 + FMA micro-kernel: a 6x16 register tile (12 accumulators, 2 B vectors, 1 broadcast). */
#include <immintrin.h>
#include <string.h>
#include "gemm_internal.h"

#define MR 6
#define NR 16

/* exp(x) for float lanes: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-7 polynomial, 2^n put
   into the exponent bits. Inputs are clamped so that 2^n stays a normal number. */
static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

static inline __m256 sigmoid_avx2(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* tanh: an odd Taylor polynomial near zero (where 1 - e^-2|x| would cancel), (1-e)/(1+e) beyond. */
static inline __m256 tanh_avx2(__m256 x) {
    __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp_avx2(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    __m256 far = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    __m256 x2 = _mm256_mul_ps(ax, ax);
    __m256 p = _mm256_set1_ps(62.0f / 2835.0f);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-17.0f / 315.0f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.0f / 15.0f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.0f / 3.0f));
    __m256 near = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), ax, ax);
    __m256 is_near = _mm256_cmp_ps(ax, _mm256_set1_ps(0.25f), _CMP_LT_OQ);
    return _mm256_or_ps(_mm256_blendv_ps(far, near, is_near), sign);
}

static inline __m256 activate_avx2(__m256 v, int act) {
    switch (act) {
    case FNN_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case FNN_ACT_SIGMOID: return sigmoid_avx2(v);
    case FNN_ACT_TANH: return tanh_avx2(v);
    default: return v;
    }
}

// acc is the (MR, NR) tile; c is (MR, NR) of an (., ldc) matrix; bias is (NR,) or NULL
static inline void store_tile(__m256 acc[MR][2], float *c, idx_t ldc, int load_c, const float *bias, int act) {
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias) { bias0 = _mm256_loadu_ps(bias); bias1 = _mm256_loadu_ps(bias + 8); }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (load_c) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(c + r * ldc), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(c + r * ldc + 8), v1);
        }
        if (bias) { v0 = _mm256_add_ps(v0, bias0); v1 = _mm256_add_ps(v1, bias1); }
        _mm256_storeu_ps(c + r * ldc, activate_avx2(v0, act));
        _mm256_storeu_ps(c + r * ldc + 8, activate_avx2(v1, act));
    }
}

// ap is (k, MR), bp is (k, NR), c is (mr, nr) of an (., ldc) matrix
static void sgemm_avx2_6x16(idx_t k, const float *ap, const float *bp, float *c, idx_t ldc,
                            idx_t mr, idx_t nr, int load_c, const float *bias, int act) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (idx_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(bp + p * NR), b1 = _mm256_loadu_ps(bp + p * NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 a_r = _mm256_broadcast_ss(ap + p * MR + r);
            acc[r][0] = _mm256_fmadd_ps(a_r, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a_r, b1, acc[r][1]);
        }
    }
    if (mr == MR && nr == NR) {
        store_tile(acc, c, ldc, load_c, bias, act);
        return;
    }
    /* Edge tile: run the same epilogue on a full-size copy so edge and interior values agree. */
    float tile[MR * NR], tile_bias[NR] = {0};
    memset(tile, 0, sizeof(tile));
    if (load_c)
        for (idx_t r = 0; r < mr; r++) memcpy(tile + r * NR, c + r * ldc, nr * sizeof(float));
    if (bias) memcpy(tile_bias, bias, nr * sizeof(float));
    store_tile(acc, tile, NR, load_c, bias ? tile_bias : NULL, act);
    for (idx_t r = 0; r < mr; r++) memcpy(c + r * ldc, tile + r * NR, nr * sizeof(float));
}

const fnn_gemm_config fnn_gemm_avx2_config = {"avx2_6x16", sgemm_avx2_6x16, MR, NR, 144, 256, 4080};
