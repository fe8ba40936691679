/* The depthwise convolution (groups == c): a direct kernel along the channel axis, since one input
   channel per group leaves no GEMM to run. The rows themselves are image_rows.h's; this file splits
   them across threads. Forward and data gradient are split by the rows they write; the filter
   gradient sums DEPTHWISE_CHUNKS fixed chunks of output rows and adds them in chunk order. */
#include "image_kernels.h"

#define DEPTHWISE_CHUNKS 16
/* Multiply-adds each thread should get before a second one is woken. */
#define DEPTHWISE_GRAIN_WORK 32768

/* Chunks of the filter gradient's sum: fixed by the shape. */
static idx_t filter_chunks(const fnn_conv_shape *s) { return FNN_MIN(DEPTHWISE_CHUNKS, s->n * s->out_h); }

/* Floats each thread needs to widen a row for a depth multiplier above 1. */
static idx_t widen_floats(const fnn_conv_shape *s) { return s->f > s->c ? s->w * s->f : 0; }

idx_t fnn_depthwise_conv2d_scratch_floats(const fnn_conv_shape *s, int pass, int threads) {
    idx_t shared = pass == FNN_CONV_BACKWARD_FILTER ? filter_chunks(s) * (s->kh * s->kw + 1) * s->f : 0;
    return shared + threads * widen_floats(s);
}

/* The grain of fnn_parallel_for over `rows` rows of `row_work` multiply-adds each, such that no more
   threads run than the scratch after `shared` floats has room for (0: not even one). */
static idx_t rows_grain(const fnn_conv_shape *s, idx_t rows, double row_work, idx_t shared, idx_t scratch_floats) {
    idx_t per_thread = widen_floats(s);
    if (scratch_floats < shared + per_thread) return 0;
    idx_t grain = (idx_t)(DEPTHWISE_GRAIN_WORK / FNN_MAX(row_work, 1.0)) + 1;
    if (per_thread > 0) {
        idx_t room = (scratch_floats - shared) / per_thread;
        grain = FNN_MAX(grain, (rows + room - 1) / room);
    }
    return grain;
}

int fnn_depthwise_conv2d_forward(const fnn_conv_shape *s, const float *x, const float *w, const float *bias,
                                 int act, float alpha, float *y, float *scratch, idx_t scratch_floats) {
    fnn_depthwise_args a = {s, x, w, bias, NULL, y, NULL, act, alpha, scratch, widen_floats(s), 0, NULL};
    idx_t rows = s->n * s->out_h;
    idx_t grain = rows_grain(s, rows, (double)s->out_w * s->f * s->kh * s->kw, 0, scratch_floats);
    if (grain == 0) return -1;
    fnn_parallel_for(rows, grain, fnn_image_kernels_active()->depthwise_forward_rows, &a);
    return 0;
}

int fnn_depthwise_conv2d_backward_data(const fnn_conv_shape *s, const float *dy, const float *w,
                                       const float *bias, int act, float alpha, float *dx, float *scratch,
                                       idx_t scratch_floats) {
    fnn_depthwise_args a = {s, NULL, w, bias, dy, NULL, dx, act, alpha, scratch, widen_floats(s), 0, NULL};
    idx_t rows = s->n * s->h;
    idx_t grain = rows_grain(s, rows, (double)s->w * s->f * s->kh * s->kw, 0, scratch_floats);
    if (grain == 0) return -1;
    fnn_parallel_for(rows, grain, fnn_image_kernels_active()->depthwise_backward_data_rows, &a);
    return 0;
}

int fnn_depthwise_conv2d_backward_filter(const fnn_conv_shape *s, const float *x, const float *dy, float *dw,
                                         float *db, float *scratch, idx_t scratch_floats) {
    const idx_t taps = s->kh * s->kw, chunks = filter_chunks(s), set = (taps + 1) * s->f;
    idx_t shared = chunks * set;
    fnn_depthwise_args a = {s, x, NULL, NULL, dy, NULL, NULL, FNN_ACTIVATION_LINEAR, 0.0f,
                            scratch + shared, widen_floats(s), chunks, scratch};
    double chunk_work = (double)s->n * s->out_h * s->out_w * s->f * (taps + 1) / chunks;
    idx_t grain = rows_grain(s, chunks, chunk_work, shared, scratch_floats);
    if (grain == 0) return -1;
    fnn_parallel_for(chunks, grain, fnn_image_kernels_active()->depthwise_backward_filter_chunks, &a);
    for (idx_t t = 0; t <= taps; t++) {
        float *out = t < taps ? dw : db;
        if (!out) continue;
        out += t < taps ? t * s->f : 0;
        for (idx_t o = 0; o < s->f; o++) out[o] = scratch[t * s->f + o];
        for (idx_t chunk = 1; chunk < chunks; chunk++)
            for (idx_t o = 0; o < s->f; o++) out[o] += scratch[chunk * set + t * s->f + o];
    }
    return 0;
}
