/* Image augmentation kernels for the Random* preprocessing layers: affine resampling (rotation,
   translation, zoom, and the resize of RandomCrop's centred window) with Keras's fill modes, flips,
   crops and contrast. Images are channels-last, (n, h, w, c) float32.

   Every forward writes each output row from one thread. Every backward owns whole images of dx and
   walks the forward's loop nest in the same order, so each sum is added in a fixed order and no
   result depends on the thread count. The innermost loops run over the channels of one pixel, which
   are contiguous in memory, so gcc vectorises them when images have many channels. */
#include <math.h>
#include <string.h>
#include "fastnn.h"

/* A thread is worth starting for about this many output values. */
#define AUGMENT_GRAIN 16384

static idx_t grain_for(idx_t values_per_item) {
    idx_t grain = AUGMENT_GRAIN / (values_per_item > 0 ? values_per_item : 1);
    return grain > 1 ? grain : 1;
}

/* ---- affine resampling ---------------------------------------------------------------------- */

/* A coordinate along an axis of len pixels, brought into the image as the fill mode says:
   reflect (d c b a | a b c d | d c b a, about the pixel edges), wrap (a b c d | a b c d), nearest
   (clamped); constant leaves it alone (points outside read the fill value). Points inside, the
   common case, return at once (a NaN fails that test and comes out NaN, which reads the fill). */
static inline float map_coordinate(float v, idx_t len, int fill_mode) {
    float size = (float)len, last = size - 1.0f;
    if (v >= 0.0f && v <= last) return v;
    if (fill_mode == FNN_FILL_REFLECT) {
        if (len <= 1) return 0.0f;
        float period = 2.0f * size;
        v = fmodf(v, period);
        if (v < 0.0f) v += period;
        if (v >= size) v = period - 1.0f - v;
        return v < 0.0f ? 0.0f : (v > last ? last : v);
    }
    if (fill_mode == FNN_FILL_WRAP) {
        v = fmodf(v, size);
        if (v < 0.0f) v += size;
        return v >= size ? 0.0f : v;  /* v + size rounded up to size */
    }
    if (fill_mode == FNN_FILL_NEAREST) return v < 0.0f ? 0.0f : (v > last ? last : v);
    return v;
}

/* floor(v) for v in (-1, len), without a libm call (the portable build has no SSE4.1 round). */
static inline idx_t floor_index(float v) {
    idx_t i = (idx_t)v;
    return v < (float)i ? i - 1 : i;
}

/* The pixels an output point reads along one axis: indices i0 and i1 (-1: the fill value) with
   weights w0 and w1. Bilinear: the two neighbours of v, weighted as TensorFlow's
   ImageProjectiveTransform weighs them ((floor + 1 - v) and (v - floor)); nearest: v rounded half
   away from zero (C's roundf, TensorFlow's std::round). */
struct axis_taps {
    idx_t i0, i1;
    float w0, w1;
};

static inline struct axis_taps axis_taps(float v, idx_t len, int fill_mode, int interpolation) {
    struct axis_taps t = {-1, -1, 1.0f, 0.0f};
    v = map_coordinate(v, len, fill_mode);
    if (!(v > -1.0f && v < (float)len)) return t;  /* constant mode, outside: all fill */
    idx_t i = floor_index(v);
    float f = (float)i, frac = v - f;
    if (interpolation == FNN_INTERPOLATION_NEAREST) {
        if (frac > 0.5f || (frac == 0.5f && v >= 0.0f)) i++;
        if (fill_mode == FNN_FILL_WRAP && i == len) i = 0;
        t.i0 = i >= 0 && i < len ? i : -1;
        return t;
    }
    idx_t j = i + 1;
    if (fill_mode == FNN_FILL_WRAP && j == len) j = 0;
    t.i0 = i >= 0 ? i : -1;
    t.i1 = j < len ? j : -1;
    t.w0 = (f + 1.0f) - v;
    t.w1 = frac;
    return t;
}

struct affine_args {
    const float *x, *transforms, *fill, *dout;
    float *out, *dx;
    idx_t in_h, in_w, c, out_h, out_w;
    int interpolation, fill_mode;
};

/* The four source pixels of output pixel (i, j) of an image (fill where a tap is -1) and their
   weights: out = wy0 * (wx0 * p00 + wx1 * p01) + wy1 * (wx0 * p10 + wx1 * p11). */
struct pixel_taps {
    idx_t at[4];  /* element offsets of p00, p01, p10, p11 in the image, or -1 */
    float wx0, wx1, wy0, wy1;
};

static inline struct pixel_taps pixel_taps(const struct affine_args *a, const float *t, idx_t i, idx_t j) {
    float u = t[0] * (float)j + t[1] * (float)i + t[2];
    float v = t[3] * (float)j + t[4] * (float)i + t[5];
    struct axis_taps tx = axis_taps(u, a->in_w, a->fill_mode, a->interpolation);
    struct axis_taps ty = axis_taps(v, a->in_h, a->fill_mode, a->interpolation);
    struct pixel_taps p;
    idx_t xs[2] = {tx.i0, tx.i1}, ys[2] = {ty.i0, ty.i1};
    for (int q = 0; q < 4; q++) {
        idx_t y = ys[q >> 1], x = xs[q & 1];
        p.at[q] = y >= 0 && x >= 0 ? (y * a->in_w + x) * a->c : -1;
    }
    p.wx0 = tx.w0, p.wx1 = tx.w1, p.wy0 = ty.w0, p.wy1 = ty.w1;
    return p;
}

/* Output rows [lo, hi) of all images, row r = image k, row i. */
static void affine_rows(void *ctx, idx_t lo, idx_t hi) {
    const struct affine_args *a = ctx;
    idx_t c = a->c, image = a->in_h * a->in_w * c;
    for (idx_t r = lo; r < hi; r++) {
        idx_t k = r / a->out_h, i = r % a->out_h;
        const float *x_k = a->x + k * image, *t = a->transforms + 6 * k;
        float *out_r = a->out + r * a->out_w * c;
        for (idx_t j = 0; j < a->out_w; j++) {
            struct pixel_taps p = pixel_taps(a, t, i, j);
            float *o = out_r + j * c;
            if (a->interpolation == FNN_INTERPOLATION_NEAREST) {
                const float *p00 = p.at[0] >= 0 ? x_k + p.at[0] : a->fill;
                for (idx_t ch = 0; ch < c; ch++) o[ch] = p00[ch];
                continue;
            }
            const float *p00 = p.at[0] >= 0 ? x_k + p.at[0] : a->fill;
            const float *p01 = p.at[1] >= 0 ? x_k + p.at[1] : a->fill;
            const float *p10 = p.at[2] >= 0 ? x_k + p.at[2] : a->fill;
            const float *p11 = p.at[3] >= 0 ? x_k + p.at[3] : a->fill;
            float wx0 = p.wx0, wx1 = p.wx1, wy0 = p.wy0, wy1 = p.wy1;
            for (idx_t ch = 0; ch < c; ch++)
                o[ch] = wy0 * (wx0 * p00[ch] + wx1 * p01[ch]) + wy1 * (wx0 * p10[ch] + wx1 * p11[ch]);
        }
    }
}

void fnn_affine_sample(idx_t n, idx_t in_h, idx_t in_w, idx_t c, const float *x, const float *transforms,
                       idx_t out_h, idx_t out_w, int interpolation, int fill_mode, const float *fill, float *out) {
    struct affine_args a = {x, transforms, fill, NULL, out, NULL, in_h, in_w, c, out_h, out_w, interpolation,
                            fill_mode};
    fnn_parallel_for(n * out_h, grain_for(out_w * c), affine_rows, &a);
}

/* Images [lo, hi): dx of each is zeroed, then every output pixel hands its gradient back to the taps
   it read, in the forward's (i, j) order. */
static void affine_backward_images(void *ctx, idx_t lo, idx_t hi) {
    const struct affine_args *a = ctx;
    idx_t c = a->c, image = a->in_h * a->in_w * c;
    for (idx_t k = lo; k < hi; k++) {
        const float *t = a->transforms + 6 * k;
        float *dx_k = a->dx + k * image;
        memset(dx_k, 0, (size_t)image * sizeof(float));
        for (idx_t i = 0; i < a->out_h; i++) {
            const float *dout_r = a->dout + (k * a->out_h + i) * a->out_w * c;
            for (idx_t j = 0; j < a->out_w; j++) {
                struct pixel_taps p = pixel_taps(a, t, i, j);
                const float *g = dout_r + j * c;
                if (a->interpolation == FNN_INTERPOLATION_NEAREST) {
                    if (p.at[0] >= 0)
                        for (idx_t ch = 0; ch < c; ch++) dx_k[p.at[0] + ch] += g[ch];
                    continue;
                }
                float w[4] = {p.wy0 * p.wx0, p.wy0 * p.wx1, p.wy1 * p.wx0, p.wy1 * p.wx1};
                for (int q = 0; q < 4; q++) {
                    if (p.at[q] < 0) continue;
                    float *d = dx_k + p.at[q], wq = w[q];
                    for (idx_t ch = 0; ch < c; ch++) d[ch] += wq * g[ch];
                }
            }
        }
    }
}

void fnn_affine_sample_backward(idx_t n, idx_t in_h, idx_t in_w, idx_t c, const float *transforms, idx_t out_h,
                                idx_t out_w, int interpolation, int fill_mode, const float *dout, float *dx) {
    struct affine_args a = {NULL, transforms, NULL, dout, NULL, dx, in_h, in_w, c, out_h, out_w, interpolation,
                            fill_mode};
    fnn_parallel_for(n, grain_for(out_h * out_w * c), affine_backward_images, &a);
}

/* ---- flips ---------------------------------------------------------------------------------- */

struct flip_args {
    const float *x;
    const int32_t *flips;
    float *out;
    idx_t h, w, c;
};

static void flip_rows(void *ctx, idx_t lo, idx_t hi) {
    const struct flip_args *a = ctx;
    idx_t h = a->h, w = a->w, c = a->c, row = w * c;
    for (idx_t r = lo; r < hi; r++) {
        idx_t k = r / h, i = r % h;
        int32_t flip = a->flips[k];
        idx_t src_i = flip & FNN_FLIP_ROWS ? h - 1 - i : i;
        const float *x_r = a->x + (k * h + src_i) * row;
        float *out_r = a->out + r * row;
        if (!(flip & FNN_FLIP_COLUMNS)) {
            memcpy(out_r, x_r, (size_t)row * sizeof(float));
            continue;
        }
        for (idx_t j = 0; j < w; j++) {
            const float *src = x_r + (w - 1 - j) * c;
            for (idx_t ch = 0; ch < c; ch++) out_r[j * c + ch] = src[ch];
        }
    }
}

void fnn_flip_images(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const int32_t *flips, float *out) {
    struct flip_args a = {x, flips, out, h, w, c};
    fnn_parallel_for(n * h, grain_for(w * c), flip_rows, &a);
}

/* ---- crops ---------------------------------------------------------------------------------- */

struct crop_args {
    const float *x, *dout;
    const int64_t *offsets;
    float *out, *dx;
    idx_t h, w, c, out_h, out_w;
};

/* Output rows [lo, hi): row i of image k's window. */
static void crop_rows(void *ctx, idx_t lo, idx_t hi) {
    const struct crop_args *a = ctx;
    idx_t c = a->c, out_row = a->out_w * c;
    for (idx_t r = lo; r < hi; r++) {
        idx_t k = r / a->out_h, i = r % a->out_h;
        const int64_t *at = a->offsets + 2 * k;
        const float *x_r = a->x + ((k * a->h + at[0] + i) * a->w + at[1]) * c;
        memcpy(a->out + r * out_row, x_r, (size_t)out_row * sizeof(float));
    }
}

void fnn_crop_images(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const int64_t *offsets, idx_t out_h,
                     idx_t out_w, float *out) {
    struct crop_args a = {x, NULL, offsets, out, NULL, h, w, c, out_h, out_w};
    fnn_parallel_for(n * out_h, grain_for(out_w * c), crop_rows, &a);
}

/* Rows [lo, hi) of dx: zero outside image k's window, dout's row inside it. */
static void crop_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const struct crop_args *a = ctx;
    idx_t c = a->c, row = a->w * c, out_row = a->out_w * c;
    for (idx_t r = lo; r < hi; r++) {
        idx_t k = r / a->h, i = r % a->h;
        const int64_t *at = a->offsets + 2 * k;
        float *dx_r = a->dx + r * row;
        memset(dx_r, 0, (size_t)row * sizeof(float));
        idx_t window_i = i - at[0];
        if (window_i >= 0 && window_i < a->out_h)
            memcpy(dx_r + at[1] * c, a->dout + (k * a->out_h + window_i) * out_row, (size_t)out_row * sizeof(float));
    }
}

void fnn_crop_images_backward(idx_t n, idx_t h, idx_t w, idx_t c, const int64_t *offsets, idx_t out_h, idx_t out_w,
                              const float *dout, float *dx) {
    struct crop_args a = {NULL, dout, offsets, NULL, dx, h, w, c, out_h, out_w};
    fnn_parallel_for(n * h, grain_for(w * c), crop_backward_rows, &a);
}

/* ---- contrast ------------------------------------------------------------------------------- */

struct contrast_args {
    const float *x, *factors, *dy;
    float *means, *out, *dx;
    double *sums;
    idx_t pixels, c;
    float lo, hi;
};

/* Column sums of a (pixels, c) image into sums (c,), in pixel order, in float64. */
static void channel_sums(idx_t pixels, idx_t c, const float *v, double *sums) {
    for (idx_t ch = 0; ch < c; ch++) sums[ch] = 0.0;
    for (idx_t p = 0; p < pixels; p++)
        for (idx_t ch = 0; ch < c; ch++) sums[ch] += (double)v[p * c + ch];
}

/* Images [lo, hi): the channel means, then out = clip((x - mean) * factor + mean, lo, hi). */
static void contrast_images(void *ctx, idx_t lo, idx_t hi) {
    const struct contrast_args *a = ctx;
    idx_t pixels = a->pixels, c = a->c;
    for (idx_t k = lo; k < hi; k++) {
        const float *x_k = a->x + k * pixels * c;
        float *out_k = a->out + k * pixels * c, *m = a->means + k * c, f = a->factors[k];
        double *sums = a->sums + k * c;
        channel_sums(pixels, c, x_k, sums);
        for (idx_t ch = 0; ch < c; ch++) m[ch] = (float)(sums[ch] / (double)pixels);
        for (idx_t p = 0; p < pixels; p++)
            for (idx_t ch = 0; ch < c; ch++) {
                float z = (x_k[p * c + ch] - m[ch]) * f + m[ch];
                out_k[p * c + ch] = z < a->lo ? a->lo : (z > a->hi ? a->hi : z);
            }
    }
}

void fnn_contrast_forward(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const float *factors, float lo,
                          float hi, double *sums, float *means, float *out) {
    struct contrast_args a = {x, factors, NULL, means, out, NULL, sums, h * w, c, lo, hi};
    fnn_parallel_for(n, grain_for(h * w * c), contrast_images, &a);
}

/* Images [lo, hi): dz = dy where the clip let z through, then dx = factor * dz + (1 - factor) *
   mean(dz) per channel (every pixel moves its channel's mean). */
static void contrast_backward_images(void *ctx, idx_t lo, idx_t hi) {
    const struct contrast_args *a = ctx;
    idx_t pixels = a->pixels, c = a->c;
    for (idx_t k = lo; k < hi; k++) {
        const float *x_k = a->x + k * pixels * c, *dy_k = a->dy + k * pixels * c, *m = a->means + k * c;
        float *dx_k = a->dx + k * pixels * c, f = a->factors[k];
        double *sums = a->sums + k * c;
        for (idx_t p = 0; p < pixels; p++)
            for (idx_t ch = 0; ch < c; ch++) {
                float z = (x_k[p * c + ch] - m[ch]) * f + m[ch];
                dx_k[p * c + ch] = z < a->lo || z > a->hi ? 0.0f : dy_k[p * c + ch];  /* dz, for now */
            }
        channel_sums(pixels, c, dx_k, sums);
        for (idx_t ch = 0; ch < c; ch++) sums[ch] = (1.0 - (double)f) * sums[ch] / (double)pixels;
        for (idx_t p = 0; p < pixels; p++)
            for (idx_t ch = 0; ch < c; ch++) dx_k[p * c + ch] = f * dx_k[p * c + ch] + (float)sums[ch];
    }
}

void fnn_contrast_backward(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const float *factors,
                           const float *means, float lo, float hi, const float *dy, double *sums, float *dx) {
    struct contrast_args a = {x, factors, dy, (float *)means, NULL, dx, sums, h * w, c, lo, hi};
    fnn_parallel_for(n, grain_for(h * w * c), contrast_backward_images, &a);
}
