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
        for (idx_t i = 0; i < n; i++) y[i] = x[i] * vm_sigmoidf(x[i]);
        break;
    case FNN_ACTIVATION_SIGMOID:
        for (idx_t i = 0; i < n; i++) y[i] = vm_sigmoidf(x[i]);
        break;
    case FNN_ACTIVATION_TANH:
        for (idx_t i = 0; i < n; i++) y[i] = vm_tanhf(x[i]);
        break;
    case FNN_ACTIVATION_SOFTPLUS:
        for (idx_t i = 0; i < n; i++) y[i] = vm_softplusf(x[i]);
        break;
    default:  /* linear */
        if (y != x)
            for (idx_t i = 0; i < n; i++) y[i] = x[i];
        break;
    }
}

#endif
