/* Dynamic quantization of activations and the int8 dense layer's forward.

   Compiled with the portable flags only: the float steps (row ranges and scales, rounding,
   dequantization, bias, activation) are the same instructions whichever SIMD path computed the int32
   products, so a quantized layer's output is bitwise identical across paths and thread counts, and a
   row's output depends on that row alone (batch invariance). */
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "qgemm_internal.h"

/* 1.5 * 2^23: adding then subtracting it rounds any |v| < 2^22 to the nearest integer, ties to even
   (as NumPy's rint), with two additions that vectorise on every instruction set. */
#define ROUND_MAGIC 12582912.0f

static inline float round_half_even(float v) { return (v + ROUND_MAGIC) - ROUND_MAGIC; }

/* lo = min(x, 0), hi = max(x, 0) and whether x holds NaN (which fails every comparison), x (k,).
   Minima and maxima are exact, so the lanes' order does not matter. */
static void row_range(idx_t k, const float *x, float *lo, float *hi, int *nan) {
    float lo_k = 0.0f, hi_k = 0.0f;
    int nan_k = 0;
    idx_t i = 0;
#ifdef __SSE2__
    /* gcc does not vectorise `v < lo ? v : lo` as a reduction without -ffinite-math-only; minps is
       exactly that select, so these are the scalar loop's values, sixteen lanes at a time in four
       independent chains (one chain would wait on minps's latency) */
    __m128 lo4[4], hi4[4], nan4[4];
    for (int c = 0; c < 4; c++) lo4[c] = hi4[c] = nan4[c] = _mm_setzero_ps();
    for (; i + 16 <= k; i += 16)
        for (int c = 0; c < 4; c++) {
            __m128 v = _mm_loadu_ps(x + i + 4 * c);
            lo4[c] = _mm_min_ps(v, lo4[c]);
            hi4[c] = _mm_max_ps(v, hi4[c]);
            nan4[c] = _mm_or_ps(nan4[c], _mm_cmpunord_ps(v, v));
        }
    float lanes[3][4][4];
    for (int c = 0; c < 4; c++) {
        _mm_storeu_ps(lanes[0][c], lo4[c]);
        _mm_storeu_ps(lanes[1][c], hi4[c]);
        _mm_storeu_ps(lanes[2][c], nan4[c]);
    }
    for (int c = 0; c < 4; c++)
        for (int j = 0; j < 4; j++) {
            lo_k = FNN_MIN(lo_k, lanes[0][c][j]);
            hi_k = FNN_MAX(hi_k, lanes[1][c][j]);
            nan_k |= lanes[2][c][j] != 0.0f; /* all bits set (a NaN pattern) or zero */
        }
#endif
    for (; i < k; i++) {
        float v = x[i];
        lo_k = v < lo_k ? v : lo_k;
        hi_k = v > hi_k ? v : hi_k;
        nan_k |= v != v;
    }
    *lo = lo_k;
    *hi = hi_k;
    *nan = nan_k;
}

/* x is (k,), q is (k_padded,): one row's affine u8 quantization over [min(x, 0), max(x, 0)], so that 0
   is exact. A row holding NaN or infinity gets a NaN scale, which makes its outputs NaN. */
static void quantize_row(idx_t k, idx_t k_padded, const float *x, int levels, uint8_t *q, float *scale,
                         int32_t *zero_point) {
    float lo, hi;
    int nan;
    row_range(k, x, &lo, &hi, &nan);
    float s = (hi - lo) / (float)levels; /* infinity in x makes s infinite or NaN */
    memset(q, 0, (size_t)k_padded);
    if (nan || !(s < INFINITY)) {
        *scale = NAN;
        *zero_point = 0;
        return;
    }
    if (s == 0.0f) { /* an all-zero row: every q is the zero point 0 */
        *scale = 1.0f;
        *zero_point = 0;
        return;
    }
    float zp = FNN_MIN((float)levels, round_half_even(-lo / s)), top = (float)levels;
    idx_t i = 0;
#ifdef __SSE2__
    /* the loop below, sixteen values at a time: clamped to [0, top] as floats, so the two saturating
       packs narrow int32 to uint8 exactly (gcc's own narrowing takes a dozen shuffles) */
    const __m128 s4 = _mm_set1_ps(s), zp4 = _mm_set1_ps(zp), top4 = _mm_set1_ps(top), zero4 = _mm_setzero_ps();
    const __m128 magic4 = _mm_set1_ps(ROUND_MAGIC);
    for (; i + 16 <= k; i += 16) {
        __m128i q4[4];
        for (int c = 0; c < 4; c++) {
            __m128 v = _mm_div_ps(_mm_loadu_ps(x + i + 4 * c), s4);
            v = _mm_add_ps(_mm_sub_ps(_mm_add_ps(v, magic4), magic4), zp4);
            q4[c] = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(v, zero4), top4));
        }
        __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(q4[0], q4[1]), _mm_packs_epi32(q4[2], q4[3]));
        _mm_storeu_si128((__m128i *)(q + i), bytes);
    }
#endif
    for (; i < k; i++) {
        float v = round_half_even(x[i] / s) + zp;
        v = v < 0.0f ? 0.0f : v;
        v = v > top ? top : v;
        q[i] = (uint8_t)(int32_t)v;
    }
    *scale = s;
    *zero_point = (int32_t)zp;
}

typedef struct {
    idx_t k, k_padded;
    const float *x;
    int levels;
    uint8_t *q;
    float *scale;
    int32_t *zero_point;
} quantize_args;

static void quantize_rows(void *ctx, idx_t lo, idx_t hi) {
    const quantize_args *p = ctx;
    for (idx_t r = lo; r < hi; r++)
        quantize_row(p->k, p->k_padded, p->x + r * p->k, p->levels, p->q + r * p->k_padded, p->scale + r,
                     p->zero_point + r);
}

/* Values per thread's piece of row quantization: a quarter of the elementwise grain, since each value
   costs two passes and a division (at the elementwise grain, 64 rows of 784 ran on one thread). */
#define QUANTIZE_GRAIN (FNN_ELEMENTWISE_GRAIN / 4)

// x is (m, k), q is (m, round_up(k, 4)) u8, scale and zero_point are (m,)
void fnn_quantize_rows_u8(idx_t m, idx_t k, const float *x, int levels, uint8_t *q, float *scale,
                          int32_t *zero_point) {
    quantize_args args = {k, (k + 3) / 4 * 4, x, levels, q, scale, zero_point};
    fnn_parallel_for(m, QUANTIZE_GRAIN / FNN_MAX(k, 1) + 1, quantize_rows, &args);
}

typedef struct {
    const float *row_scale;
    const int32_t *row_zero, *col_sums;
    const float *w_scale, *bias;
    int act;
    float alpha;
    float *y;
    idx_t ldy;
} dequantize_args;

/* y = act(row_scale * w_scale * (acc - row_zero * col_sums) + bias) over one finished tile. The
   difference is sum_p (q_p - zero) * w_p, which fits int32 whenever acc does (|q_p - zero| <= 255), so
   it is computed modulo 2^32 (unsigned: no overflow in the intermediate product). */
static void dequantize_tile(void *ctx, idx_t row0, idx_t col0, idx_t mr, idx_t nc, const int32_t *tile) {
    const dequantize_args *p = ctx;
    const int32_t *col_sums = p->col_sums + col0;
    const float *w_scale = p->w_scale + col0;
    for (idx_t r = 0; r < mr; r++) {
        const int32_t *acc = tile + r * FNN_QGEMM_GROUP_COLS;
        float row_scale = p->row_scale[row0 + r], *y = p->y + (row0 + r) * p->ldy + col0;
        uint32_t zero = (uint32_t)p->row_zero[row0 + r];
        for (idx_t j = 0; j < nc; j++) {
            int32_t centred = (int32_t)((uint32_t)acc[j] - zero * (uint32_t)col_sums[j]);
            y[j] = (float)centred * (row_scale * w_scale[j]);
        }
        if (p->bias)
            for (idx_t j = 0; j < nc; j++) y[j] = y[j] + p->bias[col0 + j];
        fnn_activate_span(p->act, p->alpha, nc, y, y);
    }
}

// x is (m, k), packed is W (k, n) int8 packed, col_sums and w_scale are (n,), bias is (n,) or NULL, y is
// (m, n); q (m, round_up(k, 4)) u8, row_scale (m,) and row_zero (m,) are scratch
void fnn_qdense_forward(idx_t m, idx_t n, idx_t k, const float *x, const int8_t *packed, const int32_t *col_sums,
                        const float *w_scale, const float *bias, int act, float alpha, int reduce_range, float *y,
                        uint8_t *q, float *row_scale, int32_t *row_zero) {
    fnn_quantize_rows_u8(m, k, x, reduce_range ? 127 : 255, q, row_scale, row_zero);
    fnn_qdense_quantized(m, n, k, q, row_scale, row_zero, packed, col_sums, w_scale, bias, act, alpha, reduce_range, y);
}

void fnn_qdense_quantized(idx_t m, idx_t n, idx_t k, const uint8_t *q, const float *row_scale, const int32_t *row_zero,
                          const int8_t *packed, const int32_t *col_sums, const float *w_scale, const float *bias,
                          int act, float alpha, int reduce_range, float *y) {
    dequantize_args args = {row_scale, row_zero, col_sums, w_scale, bias, act, alpha, y, n};
    fnn_qgemm_drive(m, n, k, q, (k + 3) / 4 * 4, packed, reduce_range, dequantize_tile, &args);
}
