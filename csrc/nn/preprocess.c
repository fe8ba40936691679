/* Per-feature kernels of the preprocessing layers (Normalization, Rescaling, Imputation), and the
   FNV-1a hash of Hashing and StringLookup's OOV buckets.

   Arrays are viewed as (outer, mid, inner): the statistics have one value per mid index, shared by
   every outer and inner position (axis=-1 is inner = 1; a scalar statistic is mid = 1). With
   inner = 1 the loop runs along mid, so it vectorises over features; otherwise along inner. Both
   loops do the same float operations per element, in the order Keras writes them, so either gives the
   same bits, and every element is independent of the others (no thread count changes a result).
   Kernels may run in place (y == x, dx == dy). */
#include <math.h>
#include "fastnn.h"

struct feature_args {
    const float *x, *a, *b, *dy;
    float *out;
    idx_t mid, inner;
    float eps;
    int invert;
};

/* max(sqrt(var), eps), keeping a NaN variance NaN. */
static inline float normalize_scale(float var, float eps) {
    float s = sqrtf(var);
    return s < eps ? eps : s;
}

/* Rows [lo, hi) of (outer * mid) rows of inner elements each, grouped as whole outer blocks when
   inner == 1 (lo and hi then count outer blocks of mid elements). */
#define FOR_EACH_FEATURE(a, lo, hi, BODY)                                              \
    do {                                                                               \
        if ((a)->inner == 1) {                                                         \
            for (idx_t o = (lo); o < (hi); o++)                                        \
                for (idx_t m = 0; m < (a)->mid; m++) {                                 \
                    idx_t e = o * (a)->mid + m;                                        \
                    BODY;                                                              \
                }                                                                      \
        } else {                                                                       \
            for (idx_t r = (lo); r < (hi); r++) {                                      \
                idx_t m = r % (a)->mid;                                                \
                (void)m; /* unused by kernels without statistics */               \
                for (idx_t e = r * (a)->inner; e < (r + 1) * (a)->inner; e++) { BODY; } \
            }                                                                          \
        }                                                                              \
    } while (0)

/* x, out: (outer, mid, inner); a = mean, b = variance (mid,):
   out = (x - mean) / max(sqrt(variance), eps), or with invert out = x * max(sqrt(variance), eps) + mean. */
static void normalize_range(void *ctx, idx_t lo, idx_t hi) {
    const struct feature_args *a = ctx;
    const float *x = a->x, *mean = a->a, *var = a->b;
    float *out = a->out, eps = a->eps;
    if (a->invert)
        FOR_EACH_FEATURE(a, lo, hi, out[e] = x[e] * normalize_scale(var[m], eps) + mean[m]);
    else
        FOR_EACH_FEATURE(a, lo, hi, out[e] = (x[e] - mean[m]) / normalize_scale(var[m], eps));
}

/* dy, out = dx: (outer, mid, inner); b = variance: dx = dy / max(sqrt(variance), eps) (invert: times). */
static void normalize_backward_range(void *ctx, idx_t lo, idx_t hi) {
    const struct feature_args *a = ctx;
    const float *dy = a->dy, *var = a->b;
    float *dx = a->out, eps = a->eps;
    if (a->invert)
        FOR_EACH_FEATURE(a, lo, hi, dx[e] = dy[e] * normalize_scale(var[m], eps));
    else
        FOR_EACH_FEATURE(a, lo, hi, dx[e] = dy[e] / normalize_scale(var[m], eps));
}

/* x, out: (outer, mid, inner); a = scale, b = offset (mid,): out = x * scale + offset. */
static void rescale_range(void *ctx, idx_t lo, idx_t hi) {
    const struct feature_args *a = ctx;
    const float *x = a->x, *scale = a->a, *offset = a->b;
    float *out = a->out;
    FOR_EACH_FEATURE(a, lo, hi, out[e] = x[e] * scale[m] + offset[m]);
}

/* dy, out = dx: (outer, mid, inner); a = scale: dx = dy * scale. */
static void rescale_backward_range(void *ctx, idx_t lo, idx_t hi) {
    const struct feature_args *a = ctx;
    const float *dy = a->dy, *scale = a->a;
    float *dx = a->out;
    FOR_EACH_FEATURE(a, lo, hi, dx[e] = dy[e] * scale[m]);
}

/* x, out: (outer, mid, inner); a = fill (mid,): out = fill where x is NaN, else x. */
static void impute_range(void *ctx, idx_t lo, idx_t hi) {
    const struct feature_args *a = ctx;
    const float *x = a->x, *fill = a->a;
    float *out = a->out;
    FOR_EACH_FEATURE(a, lo, hi, out[e] = x[e] != x[e] ? fill[m] : x[e]);
}

/* x, dy, out = dx: (outer, mid, inner): dx = 0 where x was NaN (filled by a constant), else dy. */
static void impute_backward_range(void *ctx, idx_t lo, idx_t hi) {
    const struct feature_args *a = ctx;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->out;
    FOR_EACH_FEATURE(a, lo, hi, dx[e] = x[e] != x[e] ? 0.0f : dy[e]);
}

static void run(const struct feature_args *a, idx_t outer, fnn_range_fn body) {
    if (a->inner == 1)
        fnn_parallel_for(outer, FNN_ELEMENTWISE_GRAIN / (a->mid > 0 ? a->mid : 1) + 1, body, (void *)a);
    else
        fnn_parallel_for(outer * a->mid, FNN_ELEMENTWISE_GRAIN / a->inner + 1, body, (void *)a);
}

void fnn_normalize_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *mean,
                           const float *variance, float eps, int invert, float *out) {
    struct feature_args a = {x, mean, variance, NULL, out, mid, inner, eps, invert};
    run(&a, outer, normalize_range);
}

void fnn_normalize_backward(idx_t outer, idx_t mid, idx_t inner, const float *variance, float eps, int invert,
                            const float *dy, float *dx) {
    struct feature_args a = {NULL, NULL, variance, dy, dx, mid, inner, eps, invert};
    run(&a, outer, normalize_backward_range);
}

void fnn_rescale_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *scale,
                         const float *offset, float *out) {
    struct feature_args a = {x, scale, offset, NULL, out, mid, inner, 0.0f, 0};
    run(&a, outer, rescale_range);
}

void fnn_rescale_backward(idx_t outer, idx_t mid, idx_t inner, const float *scale, const float *dy, float *dx) {
    struct feature_args a = {NULL, scale, NULL, dy, dx, mid, inner, 0.0f, 0};
    run(&a, outer, rescale_backward_range);
}

void fnn_impute_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *fill, float *out) {
    struct feature_args a = {x, fill, NULL, NULL, out, mid, inner, 0.0f, 0};
    run(&a, outer, impute_range);
}

void fnn_impute_backward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *dy, float *dx) {
    struct feature_args a = {x, NULL, NULL, dy, dx, mid, inner, 0.0f, 0};
    run(&a, outer, impute_backward_range);
}

/* ---- hashing ----------------------------------------------------------------------------------- */

#define FNV_PRIME 0x100000001B3ULL

struct hash_args {
    const uint32_t *tokens;
    uint64_t *out;
    idx_t width;
    uint64_t basis;
};

static inline uint64_t fnv_byte(uint64_t h, uint32_t byte) { return (h ^ byte) * FNV_PRIME; }

/* Tokens [lo, hi): each code point fed to FNV-1a as its UTF-8 bytes (surrogates as their 3-byte form);
   a token ends at its last non-zero code point, as numpy's fixed-width strings do. */
static void hash_range(void *ctx, idx_t lo, idx_t hi) {
    const struct hash_args *a = ctx;
    for (idx_t t = lo; t < hi; t++) {
        const uint32_t *cp = a->tokens + t * a->width;
        idx_t len = a->width;
        while (len > 0 && cp[len - 1] == 0) len--;
        uint64_t h = a->basis;
        for (idx_t i = 0; i < len; i++) {
            uint32_t c = cp[i];
            if (c < 0x80) {
                h = fnv_byte(h, c);
            } else if (c < 0x800) {
                h = fnv_byte(fnv_byte(h, 0xC0 | (c >> 6)), 0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                h = fnv_byte(fnv_byte(fnv_byte(h, 0xE0 | (c >> 12)), 0x80 | ((c >> 6) & 0x3F)), 0x80 | (c & 0x3F));
            } else {
                h = fnv_byte(fnv_byte(fnv_byte(fnv_byte(h, 0xF0 | (c >> 18)), 0x80 | ((c >> 12) & 0x3F)),
                                      0x80 | ((c >> 6) & 0x3F)), 0x80 | (c & 0x3F));
            }
        }
        a->out[t] = h;
    }
}

void fnn_fnv1a_utf8(idx_t n, idx_t width, const uint32_t *tokens, uint64_t basis, uint64_t *out) {
    struct hash_args a = {tokens, out, width, basis};
    fnn_parallel_for(n, FNN_ELEMENTWISE_GRAIN / (width > 0 ? width : 1) + 1, hash_range, &a);
}
