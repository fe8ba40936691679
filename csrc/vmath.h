/* Float math that gcc -O3 vectorises with plain SSE2 and no -ffast-math: exp, expm1, log, log1p and
   the activations built on them. Every function is straight-line arithmetic, integer bit moves and
   selects (no branches, no libm calls), so a loop that calls one vectorises; results do not depend on
   where a loop is cut or on the vector width. Specials: NaN passes through, +-inf give the limits.

   Accuracy over all floats, measured against float64 (tests/test_nn_kernels.py asserts it): exp 1.01
   ulp, expm1 1.7, log and log1p 0.83, sigmoid 2.2, tanh 2.5, softplus and log-sigmoid 1.6 ulp (1.75
   with FMA, see vm_log1p_unitf). The normal CDF (exact gelu) is within 9.4e-8 absolute everywhere
   and keeps its relative precision in the lower tail: 1.2e-6 down to x = -6, 2.3e-6 down to x = -11
   (the rounding of x^2/2 fed to exp).

   Polynomial constants are our own near-minimax fits (weighted least squares on Chebyshev nodes,
   reweighted toward the largest error) against mpmath, rounded to float. */
#ifndef FASTNN_VMATH_H
#define FASTNN_VMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VM_LOG2E 1.44269504088896341f
/* ln 2 = LN2_HI + LN2_LO, LN2_HI with 16 significant bits, so n * LN2_HI is exact for |n| <= 256 */
#define VM_LN2_HI 0x1.62e4p-1f
#define VM_LN2_LO 1.428606765e-06f
/* Adding then subtracting 1.5 * 2^23 rounds a float of magnitude below 2^22 to the nearest integer. */
#define VM_ROUND_MAGIC 12582912.0f
#define VM_SQRT1_2 0.70710678118654752440f
#define VM_INV_SQRT_2PI 0.39894228040143267794f

static inline uint32_t vm_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float vm_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* |a| with the sign bit of b */
static inline float vm_copysignf(float a, float b) {
    return vm_from_bits((vm_bits(a) & 0x7fffffffu) | (vm_bits(b) & 0x80000000u));
}

/* cond ? a : b by bit masks. Plain selects on the clamps below let gcc thread the clamped constant
   through the rest of the function into a separate branch, and a branch with floating-point work
   in it (which may raise FP exceptions: no -fno-trapping-math here) stops the loop vectorising. */
static inline float vm_select(int cond, float a, float b) {
    uint32_t mask = -(uint32_t)(cond != 0);
    return vm_from_bits((vm_bits(a) & mask) | (vm_bits(b) & ~mask));
}

/* x limited to [lo, hi]; NaN passes */
static inline float vm_clampf(float x, float lo, float hi) {
    return vm_select(x < lo, lo, vm_select(x > hi, hi, x));
}

/* 2^n for n in [-126, 127], built in the exponent bits */
static inline float vm_pow2i(int32_t n) { return vm_from_bits((uint32_t)(n + 127) << 23); }

/* (e^r - 1 - r) / r^2 on |r| <= ln2/2: degree 4, so e^r - 1 = r + r^2 q(r) is off by < 3.2e-9 */
static inline float vm_exp_q(float r) {
    return 0.5f + r * (0.166665181517601f + r * (0.04166620597243309f
                + r * (0.008368929848074913f + r * 0.0013950550928711891f)));
}

/* x = n ln2 + r with |r| <= ln2/2 (r exact up to one rounding in n * LN2_LO). n comes out twice: as
   a float and as an integer read from the bits of n + 1.5 * 2^23 (no float-to-int conversion, which
   would stop gcc from vectorising; a NaN x gives a garbage integer but poisons r). */
static inline float vm_reduce_ln2(float x, float *n, int32_t *ni) {
    float shifted = x * VM_LOG2E + VM_ROUND_MAGIC;
    *ni = (int32_t)(vm_bits(shifted) - vm_bits(VM_ROUND_MAGIC));
    *n = shifted - VM_ROUND_MAGIC;
    return (x - *n * VM_LN2_HI) - *n * VM_LN2_LO;
}

/* e^x for x in [-104, 89] (or NaN): below -104 e^x rounds to 0, above 89 it is inf. 2^n is applied as
   two factors 2^(n>>1) 2^(n - (n>>1)), both within [2^-75, 2^64], so subnormal results are rounded
   once and n = 128 does not overflow early. */
static inline float vm_exp_clamped(float x) {
    float n;
    int32_t ni;
    float r = vm_reduce_ln2(x, &n, &ni);
    float p = 1.0f + (r + r * (r * vm_exp_q(r)));
    int32_t half = ni >> 1;
    return p * vm_pow2i(half) * vm_pow2i(ni - half);
}

/* e^x; NaN passes the clamps. */
static inline float vm_expf(float x) { return vm_exp_clamped(vm_clampf(x, -104.0f, 89.0f)); }

/* e^x for x <= 0 (or NaN), as most callers have it (e^-|x|, e^(x - max), e^(-x^2/2)): one clamp less. */
static inline float vm_exp_negf(float x) { return vm_exp_clamped(vm_select(x < -104.0f, -104.0f, x)); }

/* e^x - 1, accurate near 0 where 1 cancels, for x in [-30, 89] (or NaN): 2^n (e^r - 1) + (2^n - 1),
   computed as 2 (t (e^r - 1) + (t - 1/2)) with t = 2^(n-1) so that n = 128 (x near 88.7) still fits.
   Tiny x (n = 0, r = x) comes out as x + x^2 q(x), so it keeps its relative precision; only the sign
   of -0 is lost. */
static inline float vm_expm1_clamped(float x) {
    float n;
    int32_t ni;
    float r = vm_reduce_ln2(x, &n, &ni);
    float p = r + r * (r * vm_exp_q(r));
    float t = vm_pow2i(ni - 1);
    return 2.0f * (t * p + (t - 0.5f));
}

/* e^x - 1. x is clamped to [-30, 89] (e^-30 - 1 rounds to -1). Below 2^-25 in magnitude, e^x - 1
   rounds to x itself, which is returned (it keeps -0). */
static inline float vm_expm1f(float x) {
    return vm_select(fabsf(x) < 0x1p-25f, x, vm_expm1_clamped(vm_clampf(x, -30.0f, 89.0f)));
}

/* k ln2 + log(m) + corr for u = m 2^(k - k_extra) > 0 normal and finite, m in [sqrt(1/2), sqrt(2)).
   log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))) with s = f / (2 + f): only the small correction
   carries rounding, so the result is within 1 ulp. */
static inline float vm_log_kernel(float u, int32_t k_extra, float corr) {
    uint32_t iu = vm_bits(u);
    int32_t k = (int32_t)(iu - 0x3f3504f3u) >> 23;  /* 0x3f3504f3 = sqrt(1/2) */
    float f = vm_from_bits(iu - ((uint32_t)k << 23)) - 1.0f;
    float hfsq = 0.5f * f * f, s = f / (2.0f + f), z = s * s;
    /* R(z) = 2 atanh(s)/s - 2 on z <= 0.0295, off by < 2e-10 */
    float big_r = z * (0.6666682362556458f + z * (0.3997305929660797f + z * 0.2997569739818573f));
    float kf = (float)(k + k_extra);
    return kf * VM_LN2_HI + (f - (hfsq - (s * (hfsq + big_r) + (kf * VM_LN2_LO + corr))));
}

/* log(x); subnormal x is scaled by 2^23 first. log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf. */
static inline float vm_logf(float x) {
    int tiny = x < 0x1p-126f;
    float y = vm_log_kernel(vm_select(tiny, x * 0x1p23f, x), tiny ? -23 : 0, 0.0f);
    float special = vm_select(x < 0.0f, NAN, vm_select(x == 0.0f, -INFINITY, x));
    return vm_select((x > 0.0f) & (x < INFINITY), y, special);
}

/* log(1 + x) = log(u) + (x - (u - 1)) / u with u = 1 + x rounded: x - (u - 1) is exactly the rounding
   error of u for every x >= -1. log1p(-1) = -inf, log1p(x < -1) = NaN, +-0 and inf pass through. */
static inline float vm_log1pf(float x) {
    float u = 1.0f + x;
    float y = vm_log_kernel(u, 0, (x - (u - 1.0f)) / u);
    float special = vm_select(x < -1.0f, NAN, vm_select(x == -1.0f, -INFINITY, x));
    return vm_select((x > -1.0f) & (x < INFINITY) & (x != 0.0f), y, special);
}

/* 1 / (1 + e^-x): e^-|x| never overflows and x < 0 takes e / (1 + e), one division either way. */
static inline float vm_sigmoidf(float x) {
    float e = vm_exp_negf(-fabsf(x));
    return vm_select(x >= 0.0f, 1.0f, e) / (1.0f + e);
}

/* tanh|x| = -expm1(-2|x|) / (2 + expm1(-2|x|)): no cancellation near 0, exactly 1 once e^-2|x| is
   gone; the sign comes from x, so expm1 may lose the sign of -0. */
static inline float vm_tanhf(float x) {
    float a = -2.0f * fabsf(x);
    float em = vm_expm1_clamped(vm_select(a < -30.0f, -30.0f, a));
    return vm_copysignf(-em / (2.0f + em), x);
}

/* log(1 + e) for e in [0, 1] (or NaN), as softplus and log-sigmoid have it. With FMA (the AVX2 and
   AVX-512 builds): e + e^2 R(e), R = (log1p(e) - e) / e^2 of degree 9 in e - 1/2 (relative error
   < 1e-8), no division and no special case: twice as fast as vm_log1pf, e exact in the leading term
   and R's rounding damped by e^2 R / log1p(e) <= 0.44, so softplus stays within 1.75 ulp. Without
   FMA the two extra roundings of e^2 R would take it to 2.05 ulp near x = 0, so the portable build
   keeps vm_log1pf (which costs it no time: there the exp dominates). */
static inline float vm_log1p_unitf(float e) {
#ifdef __FMA__
    float w = e - 0.5f;
    float r = -3.781395853e-01f + w * (1.792249531e-01f + w * (-9.322965890e-02f + w * (5.108247325e-02f
            + w * (-2.896518260e-02f + w * (1.681065001e-02f + w * (-9.673323482e-03f
            + w * (5.735361017e-03f + w * (-4.595930222e-03f + w * 2.902126173e-03f))))))));
    return e + (e * e) * r;
#else
    return vm_log1pf(e);
#endif
}

/* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
static inline float vm_softplusf(float x) {
    return vm_select(x > 0.0f, x, 0.0f) + vm_log1p_unitf(vm_exp_negf(-fabsf(x)));
}

/* log sigmoid(x) = min(x, 0) - log1p(e^-|x|) = -softplus(-x) */
static inline float vm_log_sigmoidf(float x) {
    return vm_select(x < 0.0f, x, 0.0f) - vm_log1p_unitf(vm_exp_negf(-fabsf(x)));
}

/* Phi(x) = erfc(-x / sqrt2) / 2, the standard normal CDF, given e2 = e^(-x^2/2) (which the caller
   shares with the density). With t = |x| / sqrt2: for t < 1, erf(t) = t P(t^2) (degree 6, off by
   < 6e-10); beyond, erfc(t) = e^(-t^2) G(1 / (1 + t/2)) with G of degree 8 in its centred argument,
   relative error < 5e-9 on [1, 9.5], so the lower tail keeps its relative precision. */
static inline float vm_normal_cdf(float x, float e2) {
    float s = x * VM_SQRT1_2, t = fabsf(s), z = s * s;
    float erf_s = s * (1.128379107e+00f + z * (-3.761260509e-01f + z * (1.128343046e-01f
                + z * (-2.684859186e-02f + z * (5.179748870e-03f + z * (-7.942352095e-04f
                + z * 7.647105667e-05f))))));
    float v = 1.0f / (1.0f + 0.5f * t) - 0.4202898442745209f;
    float g = 1.931184083e-01f + v * (7.121492624e-01f + v * (8.189127445e-01f + v * (5.992743373e-01f
            + v * (1.416696310e-01f + v * (-1.815657020e-01f + v * (-1.190032512e-01f
            + v * (8.694806695e-02f + v * 7.881502807e-02f)))))));
    float half_erfc = 0.5f * e2 * g;
    return vm_select(t < 1.0f, 0.5f + 0.5f * erf_s, vm_select(x < 0.0f, half_erfc, 1.0f - half_erfc));
}

/* Reductions in a fixed order that n alone decides (never the thread count or the instruction set):
   VM_LANES interleaved partial results, element j going to lane j % VM_LANES, folded pairwise at the
   end. The lanes are independent, so gcc vectorises the loops on every path (16 float64 lanes are two
   AVX-512, four AVX2 or eight SSE2 registers) and the additions do not wait on one another. Spans
   shorter than VM_LANES (a softmax over ten classes) are reduced left to right instead: setting up
   and folding the lanes would cost more than the span. */
#define VM_LANES 16

static inline double vm_fold_f64(double *lane) {
    for (int width = VM_LANES / 2; width > 0; width /= 2)
        for (int k = 0; k < width; k++) lane[k] += lane[k + width];
    return lane[0];
}

/* The sum of v[0, n) in float64 */
static inline double vm_sum_f64(const float *v, ptrdiff_t n) {
    if (n < VM_LANES) {
        double sum = 0.0;
        for (ptrdiff_t j = 0; j < n; j++) sum += v[j];
        return sum;
    }
    double lane[VM_LANES] = {0.0};
    ptrdiff_t j = 0;
    for (; j + VM_LANES <= n; j += VM_LANES)
        for (int k = 0; k < VM_LANES; k++) lane[k] += v[j + k];
    for (int k = 0; j < n; j++, k++) lane[k] += v[j];
    return vm_fold_f64(lane);
}

/* The dot product of a[0, n) and b[0, n) in float64 (each product exact) */
static inline double vm_dot_f64(const float *a, const float *b, ptrdiff_t n) {
    if (n < VM_LANES) {
        double sum = 0.0;
        for (ptrdiff_t j = 0; j < n; j++) sum += (double)a[j] * b[j];
        return sum;
    }
    double lane[VM_LANES] = {0.0};
    ptrdiff_t j = 0;
    for (; j + VM_LANES <= n; j += VM_LANES)
        for (int k = 0; k < VM_LANES; k++) lane[k] += (double)a[j + k] * b[j + k];
    for (int k = 0; j < n; j++, k++) lane[k] += (double)a[j] * b[j];
    return vm_fold_f64(lane);
}

/* The largest of v[0, n), n >= 1 (-inf for an empty span). A NaN may or may not win; callers
   subtract the maximum from every element, so a NaN input reaches the output either way. */
static inline float vm_max_f32(const float *v, ptrdiff_t n) {
    if (n < VM_LANES) {
        float max = -INFINITY;
        for (ptrdiff_t j = 0; j < n; j++) max = v[j] > max ? v[j] : max;
        return max;
    }
    float lane[VM_LANES];
    for (int k = 0; k < VM_LANES; k++) lane[k] = -INFINITY;
    ptrdiff_t j = 0;
    for (; j + VM_LANES <= n; j += VM_LANES)
        for (int k = 0; k < VM_LANES; k++) lane[k] = v[j + k] > lane[k] ? v[j + k] : lane[k];
    for (int k = 0; j < n; j++, k++) lane[k] = v[j] > lane[k] ? v[j] : lane[k];
    for (int width = VM_LANES / 2; width > 0; width /= 2)
        for (int k = 0; k < width; k++) lane[k] = lane[k + width] > lane[k] ? lane[k + width] : lane[k];
    return lane[0];
}

#endif
