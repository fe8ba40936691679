/* Float math that gcc -O3 vectorises with plain SSE2 and no -ffast-math: exp, expm1, log, log1p and
   the activations built on them. Every function is straight-line arithmetic, integer bit moves and
   selects (no branches, no libm calls), so a loop that calls one vectorises; results do not depend on
   where a loop is cut or on the vector width. Specials: NaN passes through, +-inf give the limits.

   Accuracy over all floats, measured against float64 (tests/test_nn_kernels.py asserts it; every 64th
   float and 4M points on [-20, 20], portable / FMA builds): exp 1.02 / 1.05 ulp, expm1 1.71 / 1.60,
   log and log1p 0.83, sigmoid 2.4, tanh 2.5, softplus and log-sigmoid 1.62 / 1.79 ulp (see
   vm_log1p_unitf). Exact gelu against float64 erfc, wherever the result is normal (the lower tail
   included, down to x = -13.1): within 3.4e-7 relative (5.7 units of 2^-24) over every 97th float in
   [-15, 15] and 3.9e-7 (6.5 units) over every float in [-14, -5], portable build; 5.6 units for both
   with FMA. The normal CDF within 1.7e-7 absolute and 3.6e-7 relative.

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

/* |a| with the sign bit of b, as a bit select (one ternary-logic instruction on AVX-512) */
static inline float vm_copysignf(float a, float b) {
    return vm_from_bits(((vm_bits(a) ^ vm_bits(b)) & 0x80000000u) ^ vm_bits(a));
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

/* (e^r - 1 - r) / r^2 on |r| <= ln2/2 given r2 = r^2: degree 4, so e^r - 1 = r + r^2 q(r) is off by
   < 3.2e-9. Estrin's scheme (pairs c_i + c_i+1 r and r2 evaluated side by side) rather than Horner's:
   an exp is a chain of dependent FMAs that its caller often extends (a division, a polynomial), and
   two FMAs less in the chain made sigmoid, tanh, silu and elu 1-6 % faster in L1 (AVX-512, measured;
   gelu's erfc polynomial stays Horner's: it runs beside the exp, and by Estrin's scheme its extra
   multiplications cost gelu 16 % in L1). */
#define VM_EXP_Q1 0.166665181517601f
#define VM_EXP_Q2 0.04166620597243309f
#define VM_EXP_Q3 0.008368929848074913f
#define VM_EXP_Q4 0.0013950550928711891f

static inline float vm_exp_q(float r, float r2) {
    return (0.5f + r * VM_EXP_Q1) + r2 * ((VM_EXP_Q2 + r * VM_EXP_Q3) + r2 * VM_EXP_Q4);
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

/* e^r 2^n from the reduced argument of vm_reduce_ln2. 2^n is applied as two factors
   2^(n>>1) 2^(n - (n>>1)), both within [2^-75, 2^64], so subnormal results are rounded once and
   n = 128 does not overflow early. */
static inline float vm_exp_reduced(float r, int32_t ni) {
    float r2 = r * r, p = 1.0f + (r + r2 * vm_exp_q(r, r2));
    int32_t half = ni >> 1;
    return p * vm_pow2i(half) * vm_pow2i(ni - half);
}

/* e^x for x in [-104, 89] (or NaN): below -104 e^x rounds to 0, above 89 it is inf. */
static inline float vm_exp_clamped(float x) {
    float n;
    int32_t ni;
    float r = vm_reduce_ln2(x, &n, &ni);
    return vm_exp_reduced(r, ni);
}

/* e^x; NaN passes the clamps. */
static inline float vm_expf(float x) { return vm_exp_clamped(vm_clampf(x, -104.0f, 89.0f)); }

/* e^x for x <= 0 (or NaN), as most callers have it (e^-|x|, e^(x - max)): one clamp less, and 2^n
   applied as one exact factor 2^(n + 64) (normal: n is in [-150, 0]) and 2^-64, whose product rounds
   a subnormal result once: the bits of vm_exp_clamped, with four vector operations fewer. */
static inline float vm_exp_negf(float x) {
    float n;
    int32_t ni;
    float r = vm_reduce_ln2(vm_select(x < -104.0f, -104.0f, x), &n, &ni);
    float r2 = r * r, p = 1.0f + (r + r2 * vm_exp_q(r, r2));
    return p * vm_pow2i(ni + 64) * 0x1p-64f;
}

/* e^x - 1, accurate near 0 where 1 cancels, for x in [-30, 89] (or NaN): 2^n (e^r - 1) + (2^n - 1),
   computed as 2 (t (e^r - 1) + (t - 1/2)) with t = 2^(n-1) so that n = 128 (x near 88.7) still fits.
   Tiny x (n = 0, r = x) comes out as x + x^2 q(x), so it keeps its relative precision; only the sign
   of -0 is lost. */
static inline float vm_expm1_clamped(float x) {
    float n;
    int32_t ni;
    float r = vm_reduce_ln2(x, &n, &ni);
    float r2 = r * r, p = r + r2 * vm_exp_q(r, r2);
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

/* e^-|x|, the exp that sigmoid, silu and softplus start from */
static inline float vm_exp_neg_absf(float x) { return vm_exp_negf(-fabsf(x)); }

/* 1 / (1 + e^-x) given e = vm_exp_neg_absf(x): e^-|x| never overflows and x < 0 takes e / (1 + e),
   one division either way. */
static inline float vm_sigmoid_from_exp(float x, float e) {
    return vm_select(x >= 0.0f, 1.0f, e) / (1.0f + e);
}

static inline float vm_sigmoidf(float x) { return vm_sigmoid_from_exp(x, vm_exp_neg_absf(x)); }

/* tanh|x| = -expm1(-2|x|) / (2 + expm1(-2|x|)): no cancellation near 0, exactly 1 once e^-2|x| is
   gone; the sign comes from x, so expm1 may lose the sign of -0. expm1 is vm_expm1_clamped's, bit for
   bit, with every intermediate halved (exact): -2|x| = n ln2 + 2h, reduced from |x| with halved ln2
   constants, e^2h - 1 = 2 (h + h^2 2q(2h)) with q's coefficients scaled by powers of 2, and
   VM_TANH_MAGIC, whose low bits hold 128, makes the bits of the rounding sum shifted up by 23 the
   2^(n+1) that multiplies h + h^2 2q(2h) (n >= -44: no split for overflow). That, a copysign that
   takes the magnitude of the negative quotient (one ternary-logic instruction on AVX-512) and a
   clamp of |x| instead of -2|x| leave 18 AVX-512 instructions of 24 per 16 floats: 21 % faster in
   L1 (AVX-512), 18 % (AVX2), 9 % (portable). */
#define VM_TANH_MAGIC 12583040.0f /* 1.5 * 2^23 + 128 */

static inline float vm_tanhf(float x) {
    float a = fabsf(x);
    a = vm_select(a > 15.0f, 15.0f, a);
    float shifted = a * (-2.0f * VM_LOG2E) + VM_TANH_MAGIC, n = shifted - VM_TANH_MAGIC;
    float h = (-a - n * (0.5f * VM_LN2_HI)) - n * (0.5f * VM_LN2_LO), h2 = h * h;
    float q2 = (1.0f + h * (4.0f * VM_EXP_Q1)) + h2 * ((8.0f * VM_EXP_Q2 + h * (16.0f * VM_EXP_Q3))
                                                      + h2 * (32.0f * VM_EXP_Q4));
    float s2 = vm_from_bits(vm_bits(shifted) << 23);
    float em = s2 * (h + h2 * q2) + (0.5f * s2 - 1.0f);
    return vm_copysignf(em / (2.0f + em), x);
}

/* log(1 + e) for e in [0, 1] (or NaN), as softplus and log-sigmoid have it. With FMA (the AVX2 and
   AVX-512 builds): e + e^2 R(e), R = (log1p(e) - e) / e^2 of degree 9 in w = e - 1/2 (relative error
   < 1e-8), no division and no special case: twice as fast as vm_log1pf, e exact in the leading term
   and R's rounding damped by e^2 R / log1p(e) <= 0.44, so softplus stays within 1.9 ulp. Without
   FMA the two extra roundings of e^2 R would take it to 2.05 ulp near x = 0, so the portable build
   keeps vm_log1pf (which costs it no time: there the exp dominates). Below R's two leading terms its
   coefficients 2..9 go as two cubics joined by w^4, so the chain of dependent FMAs is 6 long instead
   of Horner's 9 (softplus 4-7 % faster in L1 on Zen 3, AVX2), and the cubics' roundings, scaled by
   w^2 <= 1/4, leave the error where Horner's left it (1.79 ulp over every 64th float, 1.87 over
   every 16th). Evaluated wholly by Estrin's scheme, or as two halves of degree 4 joined by w^5,
   softplus runs 3-11 % faster but its error rises past the 2 ulp the tests allow (2.22, 2.04 ulp). */
static inline float vm_log1p_unitf(float e) {
#ifdef __FMA__
    float w = e - 0.5f, w2 = w * w, w4 = w2 * w2;
    float low = -9.322965890e-02f + w * (5.108247325e-02f + w * (-2.896518260e-02f + w * 1.681065001e-02f));
    float high = -9.673323482e-03f + w * (5.735361017e-03f + w * (-4.595930222e-03f + w * 2.902126173e-03f));
    float r = -3.781395853e-01f + w * (1.792249531e-01f + w * (low + w4 * high));
    return e + (e * e) * r;
#else
    return vm_log1pf(e);
#endif
}

/* log(1 + e^x) = max(x, 0) + log1p(e^-|x|), given e = vm_exp_neg_absf(x) */
static inline float vm_softplus_from_exp(float x, float e) {
    return vm_select(x > 0.0f, x, 0.0f) + vm_log1p_unitf(e);
}

static inline float vm_softplusf(float x) { return vm_softplus_from_exp(x, vm_exp_neg_absf(x)); }

/* log sigmoid(x) = min(x, 0) - log1p(e^-|x|) = -softplus(-x) */
static inline float vm_log_sigmoidf(float x) {
    return vm_select(x < 0.0f, x, 0.0f) - vm_log1p_unitf(vm_exp_neg_absf(x));
}

/* |x| limited to 14.5 (NaN passes), past which e^(-x^2/2) and erfc(|x| / sqrt2) are below half the
   smallest subnormal float: the argument of the Gaussian functions below. */
static inline float vm_gauss_arg(float x) {
    float a = fabsf(x);
    return vm_select(a > 14.5f, 14.5f, a);
}

/* e^(-a^2/2) 2^64 for a = vm_gauss_arg(x), within ~1 ulp. For a <= 14.5, e^(-a^2/2) = e^r 2^n with
   n in [-152, 0], so 2^(n + 64) is one normal float: the 2^64 lets the caller round a subnormal result
   once, in its last product. n comes from adding VM_GAUSS_MAGIC, whose low bits hold 64 + 127: the
   bits of the sum shifted up by 23 are 2^(n + 64) itself. a^2 rounded to float would carry an error
   of a^2 2^-24 into the exponent (4e-6 relative at a = 11, where gelu's lower tail still has normal
   floats), so the reduced argument is taken from the exact a^2: with FMA (the AVX2 and AVX-512
   builds), r = -a^2/2 - n LN2_HI rounded once (n LN2_HI is exact); without, a^2/2 comes as hi + lo
   by splitting a into ah + al with ah of 12 significant bits (ah^2 is then exact). */
#define VM_GAUSS_MAGIC 12583103.0f /* 1.5 * 2^23 + 191 */

static inline float vm_gauss_scaled(float a) {
#ifdef __FMA__
    float half_neg = -0.5f * a;
    float shifted = (half_neg * a) * VM_LOG2E + VM_GAUSS_MAGIC, n = shifted - VM_GAUSS_MAGIC;
    float r = fmaf(half_neg, a, -(n * VM_LN2_HI)) - n * VM_LN2_LO;
#else
    float ah = vm_from_bits(vm_bits(a) & 0xfffff000u), al = a - ah;
    float hi = -0.5f * (ah * ah), lo = -0.5f * (al * (a + ah));
    float shifted = hi * VM_LOG2E + VM_GAUSS_MAGIC, n = shifted - VM_GAUSS_MAGIC;
    float r = ((hi - n * VM_LN2_HI) - n * VM_LN2_LO) + lo;
#endif
    float r2 = r * r, scale = vm_from_bits(vm_bits(shifted) << 23);
    return scale + scale * (r + r2 * vm_exp_q(r, r2));
}

/* e^(-x^2/2), the Gaussian's shape */
static inline float vm_gaussf(float x) { return vm_gauss_scaled(vm_gauss_arg(x)) * 0x1p-64f; }

/* erfc(a / sqrt2) / 2 = 1 - Phi(a) for a = |x| or vm_gauss_arg(x), given e2 = e^(-a^2/2) (vm_gaussf, which
   callers share with the density). One formula for every a: with v = 1 / (1 + 0.4 a),
   erfc(a / sqrt2) = e2 v H(v), H of degree 9 in v - 0.5735294 (its coefficients halved here), within
   1e-7 relative after rounding them to float, on a <= 14.5 (past which e2 is 0: so is the result). H stays within
   [0.45, 1], so the product keeps its relative precision all along the lower tail. */
static inline float vm_half_erfc(float a, float e2) {
    float v = 1.0f / (1.0f + 0.4f * a), w = v - 0.5735294f;
    float h = 3.093009591e-01f + w * (3.773670197e-01f + w * (2.013656646e-01f + w * (-5.881686509e-02f
            + w * (-9.263856709e-02f + w * (4.442320392e-02f + w * (4.279276356e-02f
            + w * (-4.750727117e-02f + w * (-1.045275852e-02f + w * 3.224987537e-02f))))))));
    return e2 * (v * h);
}

/* Phi(x), the standard normal CDF, given e2 = e^(-x^2/2): the lower tail keeps its relative
   precision, the upper half 1 - erfc/2 >= 1/2 its absolute one. */
static inline float vm_normal_cdf(float x, float e2) {
    float tail = vm_half_erfc(fabsf(x), e2);
    return vm_select(x < 0.0f, tail, 1.0f - tail);
}

/* gelu's own fit of the same tail, two degrees below vm_half_erfc's: erfc(a / sqrt2) / 2 =
   e^(-a^2/2) v G(v - VM_GELU_C) with v = 1 / (1 + VM_GELU_P a), G of degree 7, within 1e-7 relative
   after rounding its coefficients to float, on a <= 14.5; G stays within [0.12, 0.5]. A p near 0.305
   is what lets degree 7 get there (with 0.4, degree 9 is needed). The normal CDF keeps vm_half_erfc:
   G's extra 1e-7 would take the CDF's absolute error near x = 0 past 2e-7. VM_GELU_C and
   1 - VM_GELU_C are both exact floats. */
#define VM_GELU_P 0.305f
#define VM_GELU_C 0.59375f

static inline float vm_gelu_tail_poly(float w) {
    return 2.593829334e-01f + w * (4.004029930e-01f + w * (3.990654349e-01f + w * (2.047195435e-01f
           + w * (-2.677846886e-02f + w * (-8.760043234e-02f + w * (-4.631966003e-04f + w * 3.665993363e-02f))))));
}

/* gelu(x) = x Phi(x) = max(x, 0) - e^(-a^2/2) a v G for a = |x|: both signs in one product. a v =
   a / (1 + p a) is the one division, and G's argument v - C follows from it as (1 - C) - p a v, so
   a v G costs no product more than v G. The last product rounds once wherever the result is normal
   (e^(-a^2/2) is then normal too: a v G < 1/2). |x| is limited to 14.5 by an integer minimum of its
   bits (one instruction; a NaN becomes 14.5, and x itself makes the result NaN), which changes
   nothing where the tail is above 0 and keeps it at 0 beyond: gelu(inf) = inf and gelu(-inf) = 0. */
static inline float vm_geluf(float x) {
    int32_t abs_bits = (int32_t)(vm_bits(x) & 0x7fffffffu), limit = (int32_t)vm_bits(14.5f);
    float a = vm_from_bits((uint32_t)(abs_bits < limit ? abs_bits : limit));
    float av = a / (1.0f + VM_GELU_P * a);
    float tail = av * vm_gelu_tail_poly((1.0f - VM_GELU_C) - VM_GELU_P * av);
    return (x < 0.0f ? 0.0f : x) - (vm_gauss_scaled(a) * 0x1p-64f) * tail;
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

/* The dot product of a[0, n) and b[0, n) in float32, for softmax's backward, where float64 lanes
   cost more in conversions than the row costs to read. The same fixed order as vm_sum_f64 with
   VM_F32_LANES lanes (two AVX-512 registers, four AVX2, eight SSE2): each lane adds about n / 32
   products, so the error stays below (n / 32 + 5) 2^-24 sum |a b|. The AVX2 and AVX-512 builds
   contract each product and addition into one FMA, the portable build rounds twice: the paths may
   differ by that rounding, never by thread count or batch. */
#define VM_F32_LANES 32

static inline float vm_dot_f32(const float *a, const float *b, ptrdiff_t n) {
    if (n < VM_F32_LANES) {
        float sum = 0.0f;
        for (ptrdiff_t j = 0; j < n; j++) sum += a[j] * b[j];
        return sum;
    }
    float lane[VM_F32_LANES] = {0.0f};
    ptrdiff_t j = 0;
    for (; j + VM_F32_LANES <= n; j += VM_F32_LANES)
        for (int k = 0; k < VM_F32_LANES; k++) lane[k] += a[j + k] * b[j + k];
    for (int k = 0; j < n; j++, k++) lane[k] += a[j] * b[j];
    for (int width = VM_F32_LANES / 2; width > 0; width /= 2)
        for (int k = 0; k < width; k++) lane[k] += lane[k + width];
    return lane[0];
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
