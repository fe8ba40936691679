/* Fused losses: one pass writes d loss / d prediction and returns Keras's sum_over_batch_size value
   sum_r w_r * loss_r / rows.

   Rows are cut into FNN_REDUCE_CHUNKS fixed slices; fnn_parallel_for hands threads whole slices (or
   runs them all inline when the work is small), each slice sums its rows in order in float64 (the
   pointwise losses in fixed blocks of elements that may span rows), and the slices are added in order, so the value does not depend on the thread count. grad may be p itself:
   each row reads p before writing grad.

   Elementwise work (the logs and exps of vmath.h) runs in loops gcc vectorises, which therefore hold
   no float64 sum (gcc may not reorder one): they leave each element's loss term in a block of floats
   on the stack, and vm_sum_f64 adds the block in a fixed order. */
#include <math.h>
#include "fastnn.h"
#include "vmath.h"

/* Elements whose loss terms (and, for pointwise losses, weights and gradient scales) a block keeps
   on the stack before summing them. */
#define TERM_BLOCK 256

/* Keras's epsilon(): probabilities are clipped to [EPS, 1 - EPS] before any log. Where a probability
   is clipped, the gradient through it is zero, as for Keras's clip. */
#define EPS 1e-7f
#define ONE_MINUS_EPS (1.0f - 1e-7f)

static inline float clip_prob(float q) { return vm_clampf(q, EPS, ONE_MINUS_EPS); }
/* q within the clip range, or NaN: the gradient is 0 outside the range, and NaN for a NaN q */
static inline int inside(float q) { return !((q < EPS) | (q > ONE_MINUS_EPS)); }

/* Rows [r0, r1) of slice c out of FNN_REDUCE_CHUNKS. */
static inline idx_t slice_start(idx_t rows, idx_t c) {
    return rows / FNN_REDUCE_CHUNKS * c + FNN_MIN(c, rows % FNN_REDUCE_CHUNKS);
}

/* A loss call's arguments; the range functions below fill partial[c] for their slices c. */
struct loss_args {
    int kind;          /* FNN_LOSS_* for pointwise losses, from_logits for the categorical ones */
    idx_t rows, cols;
    const float *t, *p, *sample_weight;
    const int64_t *labels;
    float *grad;
    double scale;
    const struct fnn_loss_options *options;
    double *partial;
};

/* Runs body over the FNN_REDUCE_CHUNKS slices (threads when rows * cols > 2 * min_work) and adds
   the slice sums in order. */
static double sum_slices(struct loss_args *args, fnn_range_fn body, idx_t min_work) {
    double partial[FNN_REDUCE_CHUNKS];
    args->partial = partial;
    fnn_parallel_for(FNN_REDUCE_CHUNKS, fnn_chunk_grain(args->rows * args->cols, min_work), body, args);
    double total = 0.0;
    for (int c = 0; c < FNN_REDUCE_CHUNKS; c++) total += partial[c];
    return total;
}

/* The focal factor f = x^gamma and its derivative df = gamma x^(gamma - 1) for x = 1 - p_t >= 0; at
   x = 0, where the logarithm cannot serve, the limits f0 and df0 (see focal_limits). Negative x (a
   probability outside [0, 1]) gives NaN. */
static inline void focal_factor(float x, float gamma, float f0, float df0, float *f, float *df) {
    float power = vm_expf(gamma * vm_logf(x));
    *f = vm_select(x == 0.0f, f0, power);
    *df = vm_select(x == 0.0f, df0, gamma * power / x);
}

static void focal_limits(float gamma, float *f0, float *df0) {
    *f0 = gamma == 0.0f ? 1.0f : 0.0f;
    *df0 = gamma == 1.0f ? 1.0f : (gamma > 1.0f || gamma == 0.0f ? 0.0f : INFINITY);
}

/* Keras's binary focal crossentropy of q = p (or sigmoid(z) from logits): the clipped BCE times
   (1 - p_t)^gamma, p_t = y q + (1 - y)(1 - q) on the unclipped q, times the class weight
   y alpha_pos + (1 - y) alpha_neg. Sets the term and d/dp (d/dz from logits). */
static void focal_block(idx_t n, const float *t, const float *p, float *g, float *term, const float *w,
                        const float *gs, const struct fnn_loss_options *o, int from_logits) {
    float gamma = o->gamma, alpha_pos = o->alpha_pos, alpha_neg = o->alpha_neg, f0, df0;
    focal_limits(gamma, &f0, &df0);
    for (idx_t j = 0; j < n; j++) {
        float y = t[j], q = from_logits ? vm_sigmoidf(p[j]) : p[j], c = clip_prob(q), f, df;
        float bce = -(y * vm_logf(c) + (1.0f - y) * vm_logf(1.0f - c));
        float x = 1.0f - (y * q + (1.0f - y) * (1.0f - q));
        focal_factor(x, gamma, f0, df0, &f, &df);
        float weight = y * alpha_pos + (1.0f - y) * alpha_neg;
        float dbce = vm_select(inside(q), (c - y) / (c * (1.0f - c)), 0.0f);
        float dq = weight * (df * (1.0f - 2.0f * y) * bce + f * dbce);
        term[j] = weight * f * bce * w[j];
        g[j] = (from_logits ? dq * (q * (1.0f - q)) : dq) * gs[j];
    }
}

/* n elements of a pointwise loss, any rows: g = l'(p) * gs, term = l(t, p) * w, where w and gs hold
   each element's row weight and gradient scale. */
static void pointwise_block(int loss, idx_t n, const float *t, const float *p, float *g, float *term,
                            const float *w, const float *gs, const struct fnn_loss_options *o) {
    switch (loss) {
    case FNN_LOSS_MSE:
        for (idx_t j = 0; j < n; j++) {
            float e = p[j] - t[j];
            term[j] = e * e * w[j];
            g[j] = 2.0f * e * gs[j];
        }
        break;
    case FNN_LOSS_MAE:
        for (idx_t j = 0; j < n; j++) {
            float e = p[j] - t[j];
            term[j] = fabsf(e) * w[j];
            g[j] = (e > 0.0f ? gs[j] : (e < 0.0f ? -gs[j] : e * gs[j]));  /* 0 at 0, NaN for NaN */
        }
        break;
    case FNN_LOSS_HUBER: {
        float delta = o->delta;
        for (idx_t j = 0; j < n; j++) {
            float e = p[j] - t[j], a = fabsf(e);
            int linear = a > delta;  /* a NaN e takes the quadratic side, whose gradient e is NaN */
            term[j] = vm_select(linear, delta * a - 0.5f * delta * delta, 0.5f * e * e) * w[j];
            g[j] = vm_select(linear, e > 0.0f ? delta : -delta, e) * gs[j];
        }
        break;
    }
    case FNN_LOSS_BCE:
        for (idx_t j = 0; j < n; j++) {
            float q = clip_prob(p[j]), y = t[j];
            term[j] = -(y * vm_logf(q) + (1.0f - y) * vm_logf(1.0f - q)) * w[j];
            g[j] = vm_select(inside(p[j]), (q - y) / (q * (1.0f - q)) * gs[j], 0.0f);
        }
        break;
    case FNN_LOSS_BCE_LOGITS:
        /* -(y log s(z) + (1-y) log s(-z)) = log1p(e^-|z|) + (z > 0 ? z (1-y) : -z y): every part >= 0,
           so nothing cancels, and one e^-|z| serves the log and s(z) - y, the derivative. */
        for (idx_t j = 0; j < n; j++) {
            float z = p[j], y = t[j], e = vm_exp_neg_absf(z);
            float linear = vm_select(z > 0.0f, z * (1.0f - y), -z * y);
            term[j] = (vm_log1pf(e) + linear) * w[j];
            g[j] = (vm_sigmoid_from_exp(z, e) - y) * gs[j];
        }
        break;
    case FNN_LOSS_POISSON:
        for (idx_t j = 0; j < n; j++) {
            float shifted = p[j] + EPS;
            term[j] = (p[j] - t[j] * vm_logf(shifted)) * w[j];
            g[j] = (1.0f - t[j] / shifted) * gs[j];
        }
        break;
    case FNN_LOSS_LOG_COSH:
        /* Keras's x + softplus(-2x) - log 2, whose derivative is tanh(x) */
        for (idx_t j = 0; j < n; j++) {
            float e = p[j] - t[j];
            term[j] = (e + vm_softplusf(-2.0f * e) - 0.693147180559945309f) * w[j];
            g[j] = vm_tanhf(e) * gs[j];
        }
        break;
    case FNN_LOSS_MSLE:
        /* log(max(x, eps) + 1) on both sides; no gradient where max picks eps */
        for (idx_t j = 0; j < n; j++) {
            float q = vm_select(p[j] < EPS, EPS, p[j]), y = vm_select(t[j] < EPS, EPS, t[j]);
            float d = vm_log1pf(q) - vm_log1pf(y);
            term[j] = d * d * w[j];
            g[j] = vm_select(p[j] < EPS, 0.0f, 2.0f * d / (q + 1.0f)) * gs[j];
        }
        break;
    case FNN_LOSS_MAPE:
        for (idx_t j = 0; j < n; j++) {
            float e = p[j] - t[j], a = fabsf(t[j]), scale = 100.0f / vm_select(a < EPS, EPS, a);
            term[j] = fabsf(e) * scale * w[j];
            g[j] = (e > 0.0f ? scale : (e < 0.0f ? -scale : 0.0f)) * gs[j];
        }
        break;
    case FNN_LOSS_HINGE:
        /* targets already in {-1, 1} form; the gradient flows at the kink too, as TF's maximum */
        for (idx_t j = 0; j < n; j++) {
            float margin = 1.0f - t[j] * p[j];
            term[j] = vm_select(margin < 0.0f, 0.0f, margin) * w[j];
            g[j] = vm_select(margin < 0.0f, 0.0f, -t[j]) * gs[j];
        }
        break;
    case FNN_LOSS_SQUARED_HINGE:
        for (idx_t j = 0; j < n; j++) {
            float margin = 1.0f - t[j] * p[j], h = vm_select(margin < 0.0f, 0.0f, margin);
            term[j] = h * h * w[j];
            g[j] = -2.0f * t[j] * h * gs[j];
        }
        break;
    case FNN_LOSS_KLD:
        /* both sides clipped to [eps, 1]; no gradient where p is clipped */
        for (idx_t j = 0; j < n; j++) {
            float y = vm_clampf(t[j], EPS, 1.0f), q = vm_clampf(p[j], EPS, 1.0f);
            term[j] = y * vm_logf(y / q) * w[j];
            g[j] = vm_select((p[j] >= EPS) & (p[j] <= 1.0f), -y / q, 0.0f) * gs[j];
        }
        break;
    case FNN_LOSS_FOCAL:
    case FNN_LOSS_FOCAL_LOGITS:
        focal_block(n, t, p, g, term, w, gs, o, loss == FNN_LOSS_FOCAL_LOGITS);
        break;
    }
}

/* Each element's row weight w and gradient scale gs (w * scale rounded once) for elements
   [e0, e0 + n) of a (rows, cols) array, from sample_weight (rows,). */
static void element_weights(idx_t e0, idx_t n, idx_t cols, const float *sample_weight, double scale,
                            float *w, float *gs) {
    if (cols == 1) {
        for (idx_t j = 0; j < n; j++) {
            w[j] = sample_weight[e0 + j];
            gs[j] = (float)(sample_weight[e0 + j] * scale);
        }
        return;
    }
    idx_t r = e0 / cols, c = e0 % cols;
    for (idx_t j = 0; j < n; r++, c = 0) {
        idx_t span = FNN_MIN(cols - c, n - j);
        float w_r = sample_weight[r], gs_r = (float)(w_r * scale);
        for (idx_t k = 0; k < span; k++) {
            w[j + k] = w_r;
            gs[j + k] = gs_r;
        }
        j += span;
    }
}

// t, p, g are (rows, cols), rows [r0, r1); returns sum_r w_r * sum_c l(t, p), g = l'(p) * w_r * scale.
// The rows' elements are contiguous, so blocks of TERM_BLOCK of them run whatever the row length:
// a one-column output vectorises like a wide one.
static double pointwise_rows(int loss, idx_t r0, idx_t r1, idx_t cols, const float *t, const float *p,
                             const float *sample_weight, float *g, double scale,
                             const struct fnn_loss_options *options) {
    float term[TERM_BLOCK], w[TERM_BLOCK], gs[TERM_BLOCK];
    /* only the entries the first block uses: a slice of a small batch holds a row or none */
    idx_t used = FNN_MIN(TERM_BLOCK, (r1 - r0) * cols);
    if (!sample_weight)
        for (idx_t j = 0; j < used; j++) {
            w[j] = 1.0f;
            gs[j] = (float)scale;
        }
    double total = 0.0;
    for (idx_t e0 = r0 * cols, end = r1 * cols; e0 < end; e0 += TERM_BLOCK) {
        idx_t n = FNN_MIN(TERM_BLOCK, end - e0);
        if (sample_weight) element_weights(e0, n, cols, sample_weight, scale, w, gs);
        pointwise_block(loss, n, t + e0, p + e0, g + e0, term, w, gs, options);
        total += vm_sum_f64(term, n);
    }
    return total;
}

/* The whole of a small call (at most TERM_BLOCK elements) in one vectorised block, then each slice's
   terms summed as pointwise_rows sums a slice of one block: the same value, without running the
   elementwise loop once per slice of one row or none. */
static double pointwise_small(const struct loss_args *a) {
    float term[TERM_BLOCK], w[TERM_BLOCK], gs[TERM_BLOCK];
    idx_t n = a->rows * a->cols;
    if (a->sample_weight) {
        element_weights(0, n, a->cols, a->sample_weight, a->scale, w, gs);
    } else {
        for (idx_t j = 0; j < n; j++) {
            w[j] = 1.0f;
            gs[j] = (float)a->scale;
        }
    }
    pointwise_block(a->kind, n, a->t, a->p, a->grad, term, w, gs, a->options);
    double total = 0.0;
    for (idx_t c = 0; c < FNN_REDUCE_CHUNKS; c++) {
        idx_t e0 = slice_start(a->rows, c) * a->cols, e1 = slice_start(a->rows, c + 1) * a->cols;
        total += vm_sum_f64(term + e0, e1 - e0);
    }
    return total;
}

static void pointwise_slices(void *ctx, idx_t lo, idx_t hi) {
    const struct loss_args *a = ctx;
    for (idx_t c = lo; c < hi; c++)
        a->partial[c] = pointwise_rows(a->kind, slice_start(a->rows, c), slice_start(a->rows, c + 1), a->cols,
                                       a->t, a->p, a->sample_weight, a->grad, a->scale, a->options);
}

double fnn_loss_pointwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                          const float *sample_weight, float *grad, const struct fnn_loss_options *options) {
    if (rows == 0 || cols == 0) return 0.0;
    /* KL divergence sums over the last axis; the others average it */
    double scale = 1.0 / ((double)rows * (loss == FNN_LOSS_KLD ? 1.0 : (double)cols));
    struct loss_args args = {.kind = loss, .rows = rows, .cols = cols, .t = t, .p = p,
                             .sample_weight = sample_weight, .grad = grad, .scale = scale, .options = options};
    /* from the crossentropies on, each takes a log or exp per element */
    idx_t min_work = loss >= FNN_LOSS_BCE ? FNN_ELEMENTWISE_GRAIN / 4 : FNN_ELEMENTWISE_GRAIN;
    if (rows * cols <= TERM_BLOCK) return pointwise_small(&args) * scale;
    return sum_slices(&args, pointwise_slices, min_work) * scale;
}

// t, p, g are (rows, cols) rows [r0, r1); q = p / sum(p) per row, clipped; loss_r = -sum t log q
static double categorical_rows(idx_t r0, idx_t r1, idx_t cols, const float *t, const float *p,
                               const float *sample_weight, float *g, double scale) {
    float term[TERM_BLOCK], live[TERM_BLOCK];
    double total = 0.0;
    for (idx_t r = r0; r < r1; r++) {
        const float *t_r = t + r * cols, *p_r = p + r * cols;
        float *g_r = g + r * cols;
        float w = sample_weight ? sample_weight[r] : 1.0f;
        float s = (float)vm_sum_f64(p_r, cols);
        /* d/dp_k of -sum_j t_j log(p_j / s) over unclipped j: (sum_j t_j - t_k / q_k) / s */
        double loss = 0.0, live_t = 0.0;
        for (idx_t j0 = 0; j0 < cols; j0 += TERM_BLOCK) {
            idx_t n = FNN_MIN(TERM_BLOCK, cols - j0);
            const float *t_b = t_r + j0, *p_b = p_r + j0;
            for (idx_t j = 0; j < n; j++) {
                float q = p_b[j] / s;
                term[j] = t_b[j] * vm_logf(clip_prob(q));
                live[j] = vm_select(inside(q), t_b[j], 0.0f);
            }
            loss -= vm_sum_f64(term, n);
            live_t += vm_sum_f64(live, n);
        }
        float gscale = (float)(w * scale) / s, live_t_f = (float)live_t;
        for (idx_t j = 0; j < cols; j++) {
            float q = p_r[j] / s;
            g_r[j] = (live_t_f - vm_select(inside(q), t_r[j] / q, 0.0f)) * gscale;
        }
        total += w * loss;
    }
    return total;
}

// t, z, g are (rows, cols) rows [r0, r1); loss_r = -sum t log softmax(z); d/dz = softmax(z) sum(t) - t
static double categorical_logits_rows(idx_t r0, idx_t r1, idx_t cols, const float *t, const float *z,
                                      const float *sample_weight, float *g, double scale) {
    float term[TERM_BLOCK];
    double total = 0.0;
    for (idx_t r = r0; r < r1; r++) {
        const float *t_r = t + r * cols, *z_r = z + r * cols;
        float *g_r = g + r * cols;
        float w = sample_weight ? sample_weight[r] : 1.0f;
        float max = vm_max_f32(z_r, cols);
        /* -sum t_j (z_j - max - log se) = sum(t) log se - sum t_j (z_j - max); g holds e^(z - max) */
        double tz = 0.0, tsum = vm_sum_f64(t_r, cols);
        for (idx_t j0 = 0; j0 < cols; j0 += TERM_BLOCK) {
            idx_t n = FNN_MIN(TERM_BLOCK, cols - j0);
            const float *t_b = t_r + j0, *z_b = z_r + j0;
            for (idx_t j = 0; j < n; j++) term[j] = t_b[j] * (z_b[j] - max);
            tz += vm_sum_f64(term, n);
        }
        for (idx_t j = 0; j < cols; j++) g_r[j] = vm_exp_negf(z_r[j] - max);
        double se = vm_sum_f64(g_r, cols);
        float gscale = (float)(w * scale), prob_scale = (float)(tsum / se);
        for (idx_t j = 0; j < cols; j++) g_r[j] = (g_r[j] * prob_scale - t_r[j]) * gscale;
        total += w * (tsum * log(se) - tz);
    }
    return total;
}

static void categorical_slices(void *ctx, idx_t lo, idx_t hi) {
    const struct loss_args *a = ctx;
    for (idx_t c = lo; c < hi; c++) {
        idx_t r0 = slice_start(a->rows, c), r1 = slice_start(a->rows, c + 1);
        a->partial[c] = a->kind
            ? categorical_logits_rows(r0, r1, a->cols, a->t, a->p, a->sample_weight, a->grad, a->scale)
            : categorical_rows(r0, r1, a->cols, a->t, a->p, a->sample_weight, a->grad, a->scale);
    }
}

double fnn_loss_categorical(idx_t rows, idx_t cols, const float *t, const float *p,
                            const float *sample_weight, float *grad, int from_logits) {
    if (rows == 0 || cols == 0) return 0.0;
    double scale = 1.0 / (double)rows;
    struct loss_args args = {.kind = from_logits, .rows = rows, .cols = cols, .t = t, .p = p,
                             .sample_weight = sample_weight, .grad = grad, .scale = scale};
    return sum_slices(&args, categorical_slices, FNN_ELEMENTWISE_GRAIN / 4) * scale;
}

// p, g are (rows, cols) rows [r0, r1), labels (rows,); categorical_rows with one-hot targets
static double sparse_categorical_rows(idx_t r0, idx_t r1, idx_t cols, const int64_t *labels, const float *p,
                                      const float *sample_weight, float *g, double scale) {
    double total = 0.0;
    for (idx_t r = r0; r < r1; r++) {
        const float *p_r = p + r * cols;
        float *g_r = g + r * cols;
        float w = sample_weight ? sample_weight[r] : 1.0f;
        idx_t label = (idx_t)labels[r];
        float s = (float)vm_sum_f64(p_r, cols);
        float q = p_r[label] / s;
        /* d/dp_k of -log(p_l / s): 1/s - [k == l] / (q_l s), zero when q_l is clipped */
        float gscale = inside(q) ? (float)(w * scale) / s : 0.0f;
        for (idx_t j = 0; j < cols; j++) g_r[j] = gscale;
        g_r[label] = inside(q) ? (1.0f - 1.0f / q) * gscale : 0.0f;
        total -= w * (double)logf(clip_prob(q));
    }
    return total;
}

// z, g are (rows, cols) rows [r0, r1), labels (rows,); loss_r = log sum e^z - z_label; d/dz = softmax(z) - onehot
static double sparse_categorical_logits_rows(idx_t r0, idx_t r1, idx_t cols, const int64_t *labels,
                                             const float *z, const float *sample_weight, float *g, double scale) {
    double total = 0.0;
    for (idx_t r = r0; r < r1; r++) {
        const float *z_r = z + r * cols;
        float *g_r = g + r * cols;
        float w = sample_weight ? sample_weight[r] : 1.0f;
        idx_t label = (idx_t)labels[r];
        float max = vm_max_f32(z_r, cols);
        float z_label = z_r[label] - max;
        for (idx_t j = 0; j < cols; j++) g_r[j] = vm_exp_negf(z_r[j] - max);
        double se = vm_sum_f64(g_r, cols);
        float gscale = (float)(w * scale), prob_scale = (float)(1.0 / se);
        for (idx_t j = 0; j < cols; j++) g_r[j] = g_r[j] * prob_scale * gscale;
        g_r[label] -= gscale;
        total += w * (log(se) - z_label);
    }
    return total;
}

static void sparse_categorical_slices(void *ctx, idx_t lo, idx_t hi) {
    const struct loss_args *a = ctx;
    for (idx_t c = lo; c < hi; c++) {
        idx_t r0 = slice_start(a->rows, c), r1 = slice_start(a->rows, c + 1);
        a->partial[c] = a->kind
            ? sparse_categorical_logits_rows(r0, r1, a->cols, a->labels, a->p, a->sample_weight, a->grad, a->scale)
            : sparse_categorical_rows(r0, r1, a->cols, a->labels, a->p, a->sample_weight, a->grad, a->scale);
    }
}

double fnn_loss_sparse_categorical(idx_t rows, idx_t cols, const int64_t *labels, const float *p,
                                   const float *sample_weight, float *grad, int from_logits) {
    if (rows == 0 || cols == 0) return 0.0;
    double scale = 1.0 / (double)rows;
    struct loss_args args = {.kind = from_logits, .rows = rows, .cols = cols, .labels = labels, .p = p,
                             .sample_weight = sample_weight, .grad = grad, .scale = scale};
    return sum_slices(&args, sparse_categorical_slices, FNN_ELEMENTWISE_GRAIN / 4) * scale;
}

/* Sum over j < n of (a_j sa)(b_j sb) in float64, the products rounded as float32 in blocks. */
static double sum_products(const float *a, const float *b, idx_t n, float sa, float sb) {
    float term[TERM_BLOCK];
    double total = 0.0;
    for (idx_t j0 = 0; j0 < n; j0 += TERM_BLOCK) {
        idx_t m = FNN_MIN(TERM_BLOCK, n - j0);
        for (idx_t j = 0; j < m; j++) term[j] = (a[j0 + j] * sa) * (b[j0 + j] * sb);
        total += vm_sum_f64(term, m);
    }
    return total;
}

/* 1 / sqrt(squares), which Keras's normalize caps at 1/eps: x * min(rsqrt(sum x^2), 1/eps). */
static inline float inverse_norm(double squares) { return 1.0f / sqrtf((float)squares); }
static inline float capped(float inverse) { return vm_select(inverse > 1.0f / EPS, 1.0f / EPS, inverse); }

// t, p, g are (rows, cols) rows [r0, r1); loss_r = -<t/|t|, p/|p|>;
// d/dp = (-t_hat + [flows] <t_hat, p_hat> p_hat) / |p|
static double cosine_rows(idx_t r0, idx_t r1, idx_t cols, const float *t, const float *p,
                          const float *sample_weight, float *g, double scale) {
    double total = 0.0;
    for (idx_t r = r0; r < r1; r++) {
        const float *t_r = t + r * cols, *p_r = p + r * cols;
        float *g_r = g + r * cols;
        float w = sample_weight ? sample_weight[r] : 1.0f;
        float inv_t = capped(inverse_norm(sum_products(t_r, t_r, cols, 1.0f, 1.0f)));
        float raw_p = inverse_norm(sum_products(p_r, p_r, cols, 1.0f, 1.0f)), inv_p = capped(raw_p);
        double cosine = sum_products(t_r, p_r, cols, inv_t, inv_p);
        /* the gradient goes through the norm unless the cap is in force (min's ties go to the root) */
        float along = raw_p <= 1.0f / EPS ? (float)cosine : 0.0f, gscale = (float)(w * scale) * inv_p;
        for (idx_t j = 0; j < cols; j++) g_r[j] = (along * (p_r[j] * inv_p) - t_r[j] * inv_t) * gscale;
        total -= w * cosine;
    }
    return total;
}

// t, p, g are (rows, cols) rows [r0, r1); loss_r = max(max_j (1 - t_j) p_j - sum_j t_j p_j + 1, 0).
// The max's gradient is shared equally by the elements that attain it, as TF's reduce_max.
static double categorical_hinge_rows(idx_t r0, idx_t r1, idx_t cols, const float *t, const float *p,
                                     const float *sample_weight, float *g, double scale) {
    double total = 0.0;
    for (idx_t r = r0; r < r1; r++) {
        const float *t_r = t + r * cols, *p_r = p + r * cols;
        float *g_r = g + r * cols;
        float w = sample_weight ? sample_weight[r] : 1.0f;
        float negative = -INFINITY;
        for (idx_t j = 0; j < cols; j++) {
            float v = (1.0f - t_r[j]) * p_r[j];
            negative = (v > negative) | (v != v) ? v : negative;  /* a NaN wins, so it reaches the loss */
        }
        idx_t ties = 0;
        for (idx_t j = 0; j < cols; j++) ties += (1.0f - t_r[j]) * p_r[j] == negative;
        float z = negative - (float)sum_products(t_r, p_r, cols, 1.0f, 1.0f) + 1.0f;
        float gscale = z < 0.0f ? 0.0f : (float)(w * scale), share = ties ? 1.0f / (float)ties : 0.0f;
        for (idx_t j = 0; j < cols; j++) {
            float at_max = (1.0f - t_r[j]) * p_r[j] == negative ? (1.0f - t_r[j]) * share : 0.0f;
            g_r[j] = (at_max - t_r[j]) * gscale;
        }
        total += w * (double)vm_select(z < 0.0f, 0.0f, z);
    }
    return total;
}

static void rowwise_slices(void *ctx, idx_t lo, idx_t hi) {
    const struct loss_args *a = ctx;
    for (idx_t c = lo; c < hi; c++) {
        idx_t r0 = slice_start(a->rows, c), r1 = slice_start(a->rows, c + 1);
        a->partial[c] = a->kind == FNN_LOSS_COSINE
            ? cosine_rows(r0, r1, a->cols, a->t, a->p, a->sample_weight, a->grad, a->scale)
            : categorical_hinge_rows(r0, r1, a->cols, a->t, a->p, a->sample_weight, a->grad, a->scale);
    }
}

double fnn_loss_rowwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                        const float *sample_weight, float *grad) {
    if (rows == 0 || cols == 0) return 0.0;
    double scale = 1.0 / (double)rows;
    struct loss_args args = {.kind = loss, .rows = rows, .cols = cols, .t = t, .p = p,
                             .sample_weight = sample_weight, .grad = grad, .scale = scale};
    return sum_slices(&args, rowwise_slices, FNN_ELEMENTWISE_GRAIN) * scale;
}
