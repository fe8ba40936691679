/* Batch normalization over (rows, c, inner): channel axis in the middle, inner = 1 for channels last,
   inner > 1 for a channel axis before others (axis=1 of (N, C, L)); each channel's statistics run over
   rows * inner values. Two fused passes each way. The statistics are per-chunk sums over
   FNN_REDUCE_CHUNKS fixed chunks of rows, added in chunk order in float64, so they do not depend on
   the thread count; the elementwise passes take the same chunks, so each thread reads back the rows
   it has just summed from its own cache. The row bodies are image_rows.h's (norm_rows.h). */
#include <math.h>
#include "image_kernels.h"

/* Scratch: the chunk sums (float64), then four per-channel float arrays. */
idx_t fnn_batch_norm_scratch_floats(idx_t c) { return FNN_REDUCE_CHUNKS * 2 * c * 2 + 4 * c; }

typedef struct {
    double *sums;
    float *center, *scale, *offset, *x_coef;
} norm_scratch;

static norm_scratch carve(idx_t c, float *scratch) {
    norm_scratch ns = {(double *)scratch, scratch + FNN_REDUCE_CHUNKS * 2 * c * 2, NULL, NULL, NULL};
    ns.scale = ns.center + c;
    ns.offset = ns.scale + c;
    ns.x_coef = ns.offset + c;
    return ns;
}

/* Channel ch's two sums over all chunks, in chunk order. */
static void total_sums(const double *sums, idx_t c, idx_t ch, double *s1, double *s2) {
    *s1 = *s2 = 0.0;
    for (idx_t chunk = 0; chunk < FNN_REDUCE_CHUNKS; chunk++) {
        *s1 += sums[chunk * 2 * c + ch];
        *s2 += sums[chunk * 2 * c + c + ch];
    }
}

static void run_chunks(const fnn_norm_args *a, fnn_range_fn body) {
    fnn_parallel_for(FNN_REDUCE_CHUNKS, fnn_chunk_grain(a->rows * a->c * a->inner, FNN_ELEMENTWISE_GRAIN), body,
                     (void *)a);
}

// x, y are (rows, c, inner); gamma, beta, mean, invstd, moving_mean, moving_var are (c,)
void fnn_batch_norm_forward_train(idx_t rows, idx_t c, idx_t inner, const float *x, const float *gamma,
                                  const float *beta, float eps, float *y, float *mean, float *invstd,
                                  float *moving_mean, float *moving_var, float momentum, float *scratch) {
    const fnn_image_kernels *img = fnn_image_kernels_active();
    norm_scratch ns = carve(c, scratch);
    const double count = (double)rows * inner;
    /* sums of x - (its first value) rather than of x: the variance then does not lose its digits to a
       large mean */
    for (idx_t ch = 0; ch < c; ch++) ns.center[ch] = x[ch * inner];
    fnn_norm_args a = {rows, c, inner, x, NULL, ns.center, ns.scale, ns.offset, NULL, ns.sums, y};
    run_chunks(&a, img->norm_sums_chunks);
    for (idx_t ch = 0; ch < c; ch++) {
        double s1, s2;
        total_sums(ns.sums, c, ch, &s1, &s2);
        double shifted_mean = s1 / count, var = FNN_MAX(s2 / count - shifted_mean * shifted_mean, 0.0);
        double istd = 1.0 / sqrt(var + eps);
        double m = ns.center[ch] + shifted_mean;
        mean[ch] = (float)m;
        invstd[ch] = (float)istd;
        ns.scale[ch] = (float)((gamma ? gamma[ch] : 1.0) * istd);
        ns.offset[ch] = beta ? beta[ch] : 0.0f;
        ns.center[ch] = (float)m;
        if (moving_mean) moving_mean[ch] = (float)(momentum * moving_mean[ch] + (1.0 - momentum) * m);
        if (moving_var) moving_var[ch] = (float)(momentum * moving_var[ch] + (1.0 - momentum) * var);
    }
    run_chunks(&a, img->norm_affine_chunks);
}

// x, dy, dx are (rows, c, inner); gamma, mean, invstd, dgamma, dbeta are (c,)
void fnn_batch_norm_backward(idx_t rows, idx_t c, idx_t inner, const float *x, const float *dy, const float *gamma,
                             const float *mean, const float *invstd, float *dx, float *dgamma, float *dbeta,
                             float *scratch) {
    const fnn_image_kernels *img = fnn_image_kernels_active();
    norm_scratch ns = carve(c, scratch);
    const double count = (double)rows * inner;
    fnn_norm_args a = {rows, c, inner, x, dy, mean, ns.scale, ns.offset, ns.x_coef, ns.sums, dx};
    run_chunks(&a, img->norm_backward_sums_chunks);
    for (idx_t ch = 0; ch < c; ch++) {
        double sum_dy, sum_dy_xc;
        total_sums(ns.sums, c, ch, &sum_dy, &sum_dy_xc);
        double istd = invstd[ch], g = gamma ? gamma[ch] : 1.0, k = g * istd;
        double grad_gamma = sum_dy_xc * istd;
        if (dbeta) dbeta[ch] = (float)sum_dy;
        if (dgamma) dgamma[ch] = (float)grad_gamma;
        /* dx = k * (dy - sum_dy / count - (x - mean) * istd * grad_gamma / count) */
        ns.scale[ch] = (float)k;
        ns.x_coef[ch] = (float)(-k * istd * grad_gamma / count);
        ns.offset[ch] = (float)(-k * sum_dy / count);
    }
    if (dx) run_chunks(&a, img->norm_backward_data_chunks);
}

// x, y are (rows, c, inner); gamma, beta, mean, var are (c,)
void fnn_batch_norm_forward_infer(idx_t rows, idx_t c, idx_t inner, const float *x, const float *gamma,
                                  const float *beta, const float *mean, const float *var, float eps, float *y,
                                  float *scratch) {
    norm_scratch ns = carve(c, scratch);
    for (idx_t ch = 0; ch < c; ch++) {
        ns.scale[ch] = (float)((gamma ? gamma[ch] : 1.0) / sqrt((double)var[ch] + eps));
        ns.offset[ch] = beta ? beta[ch] : 0.0f;
    }
    fnn_norm_args a = {rows, c, inner, x, NULL, mean, ns.scale, ns.offset, NULL, ns.sums, y};
    run_chunks(&a, fnn_image_kernels_active()->norm_affine_chunks);
}

// w is (outer, f, inner), b, gamma, beta, mean, var are (f,)
void fnn_batch_norm_fold(idx_t outer, idx_t f, idx_t inner, float *w, float *b, const float *gamma,
                         const float *beta, const float *mean, const float *var, float eps) {
    for (idx_t ch = 0; ch < f; ch++) {
        double scale = (gamma ? gamma[ch] : 1.0) / sqrt((double)var[ch] + eps);
        for (idx_t o = 0; o < outer; o++) {
            float *w_ch = w + (o * f + ch) * inner;
            for (idx_t i = 0; i < inner; i++) w_ch[i] = (float)(w_ch[i] * scale);
        }
        b[ch] = (float)((b[ch] - (double)mean[ch]) * scale + (beta ? beta[ch] : 0.0));
    }
}
