/* Keras's ReLU layer with its three arguments: y = min(x, max_value) above threshold, and
   negative_slope * (x - threshold) at or below it. Elementwise, so any split between threads gives
   the same bits; portable C (selects and one multiply, nothing an ISA path would change). */
#include "fastnn.h"

typedef struct {
    const float *x, *dy;
    float *out;
    float negative_slope, max_value, threshold;
} relu_args;

static void relu_forward_range(void *ctx, idx_t lo, idx_t hi) {
    const relu_args *a = ctx;
    for (idx_t i = lo; i < hi; i++) {
        float x_i = a->x[i], above = x_i > a->max_value ? a->max_value : x_i;
        /* a zero slope gives 0, not 0 * (-inf) = NaN; a NaN is neither above nor at-or-below: it passes */
        float below = a->negative_slope == 0.0f ? 0.0f : a->negative_slope * (x_i - a->threshold);
        a->out[i] = x_i > a->threshold ? above : x_i <= a->threshold ? below : x_i;
    }
}

/* dx = dy where threshold < x < max_value, 0 at or above max_value, negative_slope * dy at or below
   threshold, NaN where x is NaN. */
static void relu_backward_range(void *ctx, idx_t lo, idx_t hi) {
    const relu_args *a = ctx;
    for (idx_t i = lo; i < hi; i++) {
        float x_i = a->x[i], above = x_i >= a->max_value ? 0.0f : 1.0f;
        float slope = x_i > a->threshold ? above : x_i <= a->threshold ? a->negative_slope : x_i;
        a->out[i] = a->dy[i] * slope;
    }
}

// x, y are (n,)
void fnn_relu_forward(idx_t n, const float *x, float *y, float negative_slope, float max_value, float threshold) {
    relu_args a = {x, NULL, y, negative_slope, max_value, threshold};
    fnn_parallel_for(n, FNN_ELEMENTWISE_GRAIN, relu_forward_range, &a);
}

// x, dy, dx are (n,)
void fnn_relu_backward(idx_t n, const float *x, const float *dy, float *dx, float negative_slope, float max_value,
                       float threshold) {
    relu_args a = {x, dy, dx, negative_slope, max_value, threshold};
    fnn_parallel_for(n, FNN_ELEMENTWISE_GRAIN, relu_backward_range, &a);
}
