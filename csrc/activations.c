/* Activation functions. Every elementwise forward is activation_math.h's loop, the same code the GEMM
   epilogue runs; the backwards follow in the order of the enumeration, softmax (a row op) last.

   Each kernel is a range function over elements [lo, hi) (softmax: rows) that fnn_parallel_for runs
   inline for small inputs or split over threads for large ones; its arguments come in one act_args.

   Every kernel may run in place (y == x, dx == dy): element i is read before it is written, and
   softmax reads a whole row before writing it. No pointer is restrict for that reason; gcc still
   vectorises every loop (vmath.h has no libm calls and no branches), behind a run-time overlap check.

   Like every elementwise family, this file is compiled once per instruction set, inside
   csrc/isa/elementwise_<isa>.c, which renames its public functions per build. */
#include <math.h>
#include <string.h>
#include "fastnn.h"
#include "vmath.h"

/* exp, log1p and the normal CDF cost ~5-15x a load and a compare even vectorised, so those loops pay
   for a second thread sooner. */
#define CHEAP_GRAIN FNN_ELEMENTWISE_GRAIN
#define COSTLY_GRAIN (FNN_ELEMENTWISE_GRAIN / 4)

/* What every activation kernel may read: forward reads x and writes out (= y); backward reads dy and
   x or y and writes out (= dx). cols is the row length (softmax only). */
struct act_args {
    const float *x, *y, *dy;
    float *out;
    float alpha;
    idx_t cols;
    int act;
};

/* Every elementwise forward: activation_math.h's loop over this range. */
static void elementwise_forward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    fnn_activate_span(a->act, a->alpha, hi - lo, a->x + lo, a->out + lo);
}

// y, dy, dx are (n,); the derivative at 0 is taken as 0
static void relu_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *y = a->y, *dy = a->dy;
    float *dx = a->out;
    for (idx_t i = lo; i < hi; i++) {
        float y_i = y[i], dy_i = dy[i];
        dx[i] = y_i > 0.0f ? dy_i : 0.0f;
    }
}

// x, dy, dx are (n,)
static void leaky_relu_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->out;
    float slope = a->alpha;
    for (idx_t i = lo; i < hi; i++) {
        float x_i = x[i], dy_i = dy[i], pos = x_i > 0.0f ? dy_i : 0.0f, neg = x_i > 0.0f ? 0.0f : dy_i;
        dx[i] = pos + slope * neg;
    }
}

// y, dy, dx are (n,); for x <= 0, d/dx alpha*(e^x - 1) = alpha*e^x = y + alpha (needs alpha >= 0)
static void elu_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *y = a->y, *dy = a->dy;
    float *dx = a->out;
    float alpha = a->alpha;
    for (idx_t i = lo; i < hi; i++) {
        float y_i = y[i], dy_i = dy[i], pos = y_i > 0.0f ? dy_i : 0.0f, neg = y_i > 0.0f ? 0.0f : dy_i;
        dx[i] = pos + neg * ((y_i > 0.0f ? 0.0f : y_i) + alpha);
    }
}

// x, dy, dx are (n,); d/dx x*Phi(x) = Phi(x) + x*phi(x)
static void gelu_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->out;
    for (idx_t i = lo; i < hi; i++) {
        float e2 = vm_gaussf(x[i]);
        dx[i] = dy[i] * (vm_normal_cdf(x[i], e2) + x[i] * (VM_INV_SQRT_2PI * e2));
    }
}

// x, dy, dx are (n,); d/dx x*s(x) = s + x*s*(1-s)
static void silu_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->out;
    for (idx_t i = lo; i < hi; i++) {
        float s = vm_sigmoidf(x[i]);
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

// y, dy, dx are (n,)
static void sigmoid_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *y = a->y, *dy = a->dy;
    float *dx = a->out;
    for (idx_t i = lo; i < hi; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

// y, dy, dx are (n,)
static void tanh_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *y = a->y, *dy = a->dy;
    float *dx = a->out;
    for (idx_t i = lo; i < hi; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

// x, dy, dx are (n,)
static void softplus_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    const float *x = a->x, *dy = a->dy;
    float *dx = a->out;
    for (idx_t i = lo; i < hi; i++) dx[i] = dy[i] * vm_sigmoidf(x[i]);
}

/* Asks for the row after the current one while this one is computed: a softmax row is read from
   memory by its first pass and then worked on in L1, so without this the memory sits idle during
   the exps (the backward's second pass) and the hardware prefetcher, which follows the streaming
   pass, does not look a row ahead. */
static inline void prefetch_row(const float *row, idx_t cols) {
    for (idx_t j = 0; j < cols; j += 64 / sizeof(float)) __builtin_prefetch(row + j, 0, 3);
}

// x, y are (rows, cols), rows [lo, hi); each row of y = exp(x_row - max) / sum, the sum in float64
static void softmax_forward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    idx_t cols = a->cols;
    for (idx_t r = lo; r < hi; r++) {
        const float *x_r = a->x + r * cols;
        float *y_r = a->out + r * cols;
        if (r + 1 < hi) prefetch_row(x_r + cols, cols);
        float max = vm_max_f32(x_r, cols);
        for (idx_t j = 0; j < cols; j++) y_r[j] = vm_exp_negf(x_r[j] - max);
        float inv = (float)(1.0 / vm_sum_f64(y_r, cols));
        for (idx_t j = 0; j < cols; j++) y_r[j] *= inv;
    }
}

// y, dy, dx are (rows, cols), rows [lo, hi); dx_row = y_row * (dy_row - <y_row, dy_row>), the dot in float32
static void softmax_backward(void *ctx, idx_t lo, idx_t hi) {
    const struct act_args *a = ctx;
    idx_t cols = a->cols;
    for (idx_t r = lo; r < hi; r++) {
        const float *y_r = a->y + r * cols, *dy_r = a->dy + r * cols;
        float *dx_r = a->out + r * cols;
        if (r + 1 < hi) {
            prefetch_row(y_r + cols, cols);
            prefetch_row(dy_r + cols, cols);
        }
        float dot_f = vm_dot_f32(y_r, dy_r, cols);
        for (idx_t j = 0; j < cols; j++) dx_r[j] = y_r[j] * (dy_r[j] - dot_f);
    }
}

/* Each activation's range functions and the least work (elements) worth a thread for each. Linear
   is a memcpy (or nothing, in place) and has no entry. */
static const struct {
    fnn_range_fn forward, backward;
    idx_t forward_grain, backward_grain;
} KERNELS[FNN_ACTIVATION_COUNT] = {
    [FNN_ACTIVATION_RELU] = {elementwise_forward, relu_backward, CHEAP_GRAIN, CHEAP_GRAIN},
    [FNN_ACTIVATION_LEAKY_RELU] = {elementwise_forward, leaky_relu_backward, CHEAP_GRAIN, CHEAP_GRAIN},
    [FNN_ACTIVATION_ELU] = {elementwise_forward, elu_backward, COSTLY_GRAIN, CHEAP_GRAIN},
    [FNN_ACTIVATION_GELU] = {elementwise_forward, gelu_backward, COSTLY_GRAIN, COSTLY_GRAIN},
    [FNN_ACTIVATION_SILU] = {elementwise_forward, silu_backward, COSTLY_GRAIN, COSTLY_GRAIN},
    [FNN_ACTIVATION_SIGMOID] = {elementwise_forward, sigmoid_backward, COSTLY_GRAIN, CHEAP_GRAIN},
    [FNN_ACTIVATION_TANH] = {elementwise_forward, tanh_backward, COSTLY_GRAIN, CHEAP_GRAIN},
    [FNN_ACTIVATION_SOFTPLUS] = {elementwise_forward, softplus_backward, COSTLY_GRAIN, COSTLY_GRAIN},
    [FNN_ACTIVATION_SOFTMAX] = {softmax_forward, softmax_backward, COSTLY_GRAIN, CHEAP_GRAIN},
};

/* Runs one range function over n elements, or over rows for softmax (whose grain counts elements). */
static void run(int act, fnn_range_fn body, idx_t grain, idx_t rows, idx_t cols, struct act_args *args) {
    if (act == FNN_ACTIVATION_SOFTMAX)
        fnn_parallel_for(rows, FNN_MAX(grain / cols, 1), body, args);
    else
        fnn_parallel_for(rows * cols, grain, body, args);
}

void fnn_activation_forward(int act, float alpha, idx_t rows, idx_t cols, const float *x, float *y) {
    idx_t n = rows * cols;
    if (n == 0) return;
    if (act == FNN_ACTIVATION_LINEAR) {
        if (x != y) memcpy(y, x, (size_t)n * sizeof(float));
        return;
    }
    struct act_args args = {.x = x, .out = y, .alpha = alpha, .cols = cols, .act = act};
    run(act, KERNELS[act].forward, KERNELS[act].forward_grain, rows, cols, &args);
}

void fnn_activation_backward(int act, float alpha, idx_t rows, idx_t cols,
                             const float *x, const float *y, const float *dy, float *dx) {
    idx_t n = rows * cols;
    if (n == 0) return;
    if (act == FNN_ACTIVATION_LINEAR) {
        if (dy != dx) memcpy(dx, dy, (size_t)n * sizeof(float));
        return;
    }
    struct act_args args = {.x = x, .y = y, .dy = dy, .out = dx, .alpha = alpha, .cols = cols};
    run(act, KERNELS[act].backward, KERNELS[act].backward_grain, rows, cols, &args);
}
