/* The elementwise activations over a span of floats, on vmath.h's functions: the one definition that
   the activation kernels and every GEMM epilogue share. A file that includes it gets the vector code of
   its own instruction-set flags (gcc vectorises each loop), so the same header serves the scalar,
   AVX2 and AVX-512 builds. NaN in gives NaN out for every activation.

   Each case is its own loop (the switch sits outside), so every loop vectorises without unswitching. */
#ifndef FASTNN_ACTIVATION_MATH_H
#define FASTNN_ACTIVATION_MATH_H

#include "common.h"
#include "vmath.h"

/* Codes in the order of fastnn.ops.nn.ACTIVATIONS; every one but softmax is elementwise. */
enum fnn_activation {
    FNN_ACTIVATION_LINEAR = 0, FNN_ACTIVATION_RELU, FNN_ACTIVATION_LEAKY_RELU, FNN_ACTIVATION_ELU,
    FNN_ACTIVATION_GELU, FNN_ACTIVATION_SILU, FNN_ACTIVATION_SIGMOID, FNN_ACTIVATION_TANH,
    FNN_ACTIVATION_SOFTPLUS, FNN_ACTIVATION_SOFTMAX, FNN_ACTIVATION_COUNT
};

/* Sigmoid, silu and softplus go in blocks of FNN_EXP_BLOCK floats, each in two loops: the exps into
   a buffer on the stack, then the division or log1p that finishes them. In one loop every vector is one
   chain of ~70 cycles of dependent operations, more than the core's out-of-order window can overlap
   with enough other vectors; two short chains run at the rate of the FMA units. In L1, one thread
   (Zen 3, AVX2): softplus 1.34-1.38x, sigmoid and silu 1.06-1.14x as fast, the same operations and
   bits. gelu, whose exp already runs beside its division, lost 3-6 % from either split. */
#define FNN_EXP_BLOCK 256

enum fnn_exp_finish { FNN_FINISH_SIGMOID, FNN_FINISH_SILU, FNN_FINISH_SOFTPLUS };

static inline __attribute__((always_inline)) void exp_then_finish(enum fnn_exp_finish finish, idx_t n,
                                                                  const float *x, float *y) {
    float e[FNN_EXP_BLOCK];
    for (idx_t start = 0; start < n; start += FNN_EXP_BLOCK) {
        idx_t count = FNN_MIN(FNN_EXP_BLOCK, n - start);
        const float *xs = x + start;
        float *ys = y + start;
        for (idx_t i = 0; i < count; i++) e[i] = vm_exp_neg_absf(xs[i]);
        if (finish == FNN_FINISH_SIGMOID)
            for (idx_t i = 0; i < count; i++) ys[i] = vm_sigmoid_from_exp(xs[i], e[i]);
        else if (finish == FNN_FINISH_SILU)
            for (idx_t i = 0; i < count; i++) ys[i] = xs[i] * vm_sigmoid_from_exp(xs[i], e[i]);
        else
            for (idx_t i = 0; i < count; i++) ys[i] = vm_softplus_from_exp(xs[i], e[i]);
    }
}

/* x is (n,), y is (n,) and may be x: y = act(x); alpha is leaky_relu's slope or elu's alpha.
   act is elementwise (not softmax). */
static inline void fnn_activate_span(int act, float alpha, idx_t n, const float *x, float *y) {
    switch (act) {
    case FNN_ACTIVATION_RELU:
        for (idx_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];  /* NaN is not < 0: it passes */
        break;
    case FNN_ACTIVATION_LEAKY_RELU:
        /* max(x, 0) + alpha * min(x, 0): selects against 0 vectorise without -fno-trapping-math */
        for (idx_t i = 0; i < n; i++) {
            float x_i = x[i], pos = x_i < 0.0f ? 0.0f : x_i, neg = x_i > 0.0f ? 0.0f : x_i;
            y[i] = pos + alpha * neg;
        }
        break;
    case FNN_ACTIVATION_ELU:
        for (idx_t i = 0; i < n; i++) y[i] = vm_select(x[i] > 0.0f, x[i], alpha * vm_expm1f(x[i]));
        break;
    case FNN_ACTIVATION_GELU:
        for (idx_t i = 0; i < n; i++) y[i] = vm_geluf(x[i]);
        break;
    case FNN_ACTIVATION_SILU:
        exp_then_finish(FNN_FINISH_SILU, n, x, y);
        break;
    case FNN_ACTIVATION_SIGMOID:
        exp_then_finish(FNN_FINISH_SIGMOID, n, x, y);
        break;
    case FNN_ACTIVATION_TANH:
        for (idx_t i = 0; i < n; i++) y[i] = vm_tanhf(x[i]);
        break;
    case FNN_ACTIVATION_SOFTPLUS:
        exp_then_finish(FNN_FINISH_SOFTPLUS, n, x, y);
        break;
    default:  /* linear */
        if (y != x)
            for (idx_t i = 0; i < n; i++) y[i] = x[i];
        break;
    }
}

#endif
