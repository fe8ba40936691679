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

/* Layer normalization: each row of (rows, c) on its own statistics, in float64. A row's sums run over
   LN_LANES lanes (lane j takes values j, j + LN_LANES, ... in order) added in lane order, so a row's
   bits depend on that row alone, not on the thread count or the batch, and the lanes let the compiler
   vectorise what one serial sum could not. The parameter gradients are column sums over the rows in
   row order, the threads splitting the columns. */
#define LN_LANES 8
#define LN_COLUMN_BLOCK 64

typedef struct {
    idx_t rows, c;
    const float *x, *dy, *gamma, *beta;
    double eps;
    float *y, *mean, *invstd, *dx, *dgamma, *dbeta;
} layer_norm_args;

static double lanes_total(const double *lanes) {
    double total = 0.0;
    for (idx_t j = 0; j < LN_LANES; j++) total += lanes[j];
    return total;
}

/* One row's mean and biased variance, two passes (the variance keeps its digits under a large mean). */
static void row_moments(idx_t c, const float *x_r, double *mean, double *var) {
    double s1[LN_LANES] = {0.0}, s2[LN_LANES] = {0.0};
    for (idx_t i0 = 0; i0 < c; i0 += LN_LANES)
        for (idx_t j = 0; j < FNN_MIN(LN_LANES, c - i0); j++) s1[j] += x_r[i0 + j];
    double m = lanes_total(s1) / (double)c;
    for (idx_t i0 = 0; i0 < c; i0 += LN_LANES)
        for (idx_t j = 0; j < FNN_MIN(LN_LANES, c - i0); j++) {
            double u = x_r[i0 + j] - m;
            s2[j] += u * u;
        }
    *mean = m;
    *var = lanes_total(s2) / (double)c;
}

/* One row's sums of g = dy * gamma and of g * xhat, xhat = (x - mean) * invstd. */
static void row_grad_sums(idx_t c, const float *x_r, const float *dy_r, const float *gamma, double m, double istd,
                          double *sum_g, double *sum_g_xhat) {
    double s1[LN_LANES] = {0.0}, s2[LN_LANES] = {0.0};
    for (idx_t i0 = 0; i0 < c; i0 += LN_LANES)
        for (idx_t j = 0; j < FNN_MIN(LN_LANES, c - i0); j++) {
            idx_t i = i0 + j;
            double g = gamma ? (double)dy_r[i] * gamma[i] : dy_r[i];
            s1[j] += g;
            s2[j] += g * ((x_r[i] - m) * istd);
        }
    *sum_g = lanes_total(s1);
    *sum_g_xhat = lanes_total(s2);
}

static void layer_norm_forward_rows(void *ctx, idx_t lo, idx_t hi) {
    const layer_norm_args *a = ctx;
    const idx_t c = a->c;
    for (idx_t r = lo; r < hi; r++) {
        const float *x_r = a->x + r * c;
        float *out_r = a->y + r * c;
        double m, var;
        row_moments(c, x_r, &m, &var);
        double istd = 1.0 / sqrt(var + a->eps);
        a->mean[r] = (float)m;
        a->invstd[r] = (float)istd;
        for (idx_t i = 0; i < c; i++) {
            double xhat = (x_r[i] - m) * istd;
            out_r[i] = (float)((a->gamma ? xhat * a->gamma[i] : xhat) + (a->beta ? a->beta[i] : 0.0f));
        }
    }
}

/* dx = invstd * (g - mean(g) - xhat * mean(g * xhat)) per row, with the forward's mean and invstd. */
static void layer_norm_backward_rows(void *ctx, idx_t lo, idx_t hi) {
    const layer_norm_args *a = ctx;
    const idx_t c = a->c;
    for (idx_t r = lo; r < hi; r++) {
        const float *x_r = a->x + r * c, *dy_r = a->dy + r * c;
        float *dx_r = a->dx + r * c;
        double m = a->mean[r], istd = a->invstd[r], sum_g, sum_g_xhat;
        row_grad_sums(c, x_r, dy_r, a->gamma, m, istd, &sum_g, &sum_g_xhat);
        double mean_g = sum_g / (double)c, mean_g_xhat = sum_g_xhat / (double)c;
        for (idx_t i = 0; i < c; i++) {
            double g = a->gamma ? (double)dy_r[i] * a->gamma[i] : dy_r[i], xhat = (x_r[i] - m) * istd;
            dx_r[i] = (float)(istd * (g - mean_g - xhat * mean_g_xhat));
        }
    }
}

/* dgamma = sum over rows of dy * xhat, dbeta = sum of dy, for column blocks [lo, hi). */
static void layer_norm_param_grad_blocks(void *ctx, idx_t lo, idx_t hi) {
    const layer_norm_args *a = ctx;
    const idx_t c = a->c;
    for (idx_t block = lo; block < hi; block++) {
        idx_t c0 = block * LN_COLUMN_BLOCK, width = FNN_MIN(LN_COLUMN_BLOCK, c - c0);
        double sg[LN_COLUMN_BLOCK] = {0.0}, sb[LN_COLUMN_BLOCK] = {0.0};
        for (idx_t r = 0; r < a->rows; r++) {
            const float *x_r = a->x + r * c + c0, *dy_r = a->dy + r * c + c0;
            double m = a->mean[r], istd = a->invstd[r];
            for (idx_t i = 0; i < width; i++) {
                sg[i] += dy_r[i] * ((x_r[i] - m) * istd);
                sb[i] += dy_r[i];
            }
        }
        for (idx_t i = 0; i < width; i++) {
            if (a->dgamma) a->dgamma[c0 + i] = (float)sg[i];
            if (a->dbeta) a->dbeta[c0 + i] = (float)sb[i];
        }
    }
}

// x, y are (rows, c); gamma, beta are (c,) or NULL; mean, invstd are (rows,)
void fnn_layer_norm_forward(idx_t rows, idx_t c, const float *x, const float *gamma, const float *beta, float eps,
                            float *y, float *mean, float *invstd) {
    layer_norm_args a = {rows, c, x, NULL, gamma, beta, eps, y, mean, invstd, NULL, NULL, NULL};
    fnn_parallel_for(rows, FNN_MAX(1, FNN_ELEMENTWISE_GRAIN / c), layer_norm_forward_rows, &a);
}

// x, dy, dx are (rows, c); gamma, dgamma, dbeta are (c,) or NULL; mean, invstd are (rows,)
void fnn_layer_norm_backward(idx_t rows, idx_t c, const float *x, const float *dy, const float *gamma,
                             const float *mean, const float *invstd, float *dx, float *dgamma, float *dbeta) {
    layer_norm_args a = {rows, c, x, dy, gamma, NULL, 0.0, NULL, (float *)mean, (float *)invstd, dx, dgamma, dbeta};
    if (dx) fnn_parallel_for(rows, FNN_MAX(1, FNN_ELEMENTWISE_GRAIN / c), layer_norm_backward_rows, &a);
    if (dgamma || dbeta) {
        idx_t blocks = (c + LN_COLUMN_BLOCK - 1) / LN_COLUMN_BLOCK;
        fnn_parallel_for(blocks, FNN_MAX(1, FNN_ELEMENTWISE_GRAIN / (rows * LN_COLUMN_BLOCK)),
                         layer_norm_param_grad_blocks, &a);
    }
}
