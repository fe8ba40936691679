/* The public entry points of the elementwise kernel families: each forwards to the build of the
   SIMD path in force (elementwise_dispatch.h), read per call so FASTNN_SIMD and fnn_simd_set apply
   at once. */
#include "elementwise_dispatch.h"

static const struct fnn_elementwise_kernels *kernels(void) {
#ifdef FASTNN_X86
    switch (fnn_simd_get()) {
    case FNN_SIMD_AVX512: return &fnn_elementwise_avx512;
    case FNN_SIMD_AVX2: return &fnn_elementwise_avx2;
    }
#endif
    return &fnn_elementwise_scalar;
}

int fnn_activation_backward_input(int act) {
    switch (act) {
    case FNN_ACTIVATION_LINEAR: return FNN_NEEDS_NOTHING;
    case FNN_ACTIVATION_RELU:
    case FNN_ACTIVATION_ELU:
    case FNN_ACTIVATION_SIGMOID:
    case FNN_ACTIVATION_TANH:
    case FNN_ACTIVATION_SOFTMAX: return FNN_NEEDS_Y;
    default: return FNN_NEEDS_X;
    }
}

void fnn_activation_forward(int act, float alpha, idx_t rows, idx_t cols, const float *x, float *y) {
    kernels()->activation_forward(act, alpha, rows, cols, x, y);
}

void fnn_activation_backward(int act, float alpha, idx_t rows, idx_t cols,
                             const float *x, const float *y, const float *dy, float *dx) {
    kernels()->activation_backward(act, alpha, rows, cols, x, y, dy, dx);
}

void fnn_bias_grad(idx_t rows, idx_t cols, const float *dy, float *out) {
    kernels()->bias_grad(rows, cols, dy, out);
}

double fnn_sum_squares(idx_t n, const float *x) { return kernels()->sum_squares(n, x); }

double fnn_loss_pointwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                          const float *sample_weight, float *grad, const struct fnn_loss_options *options) {
    return kernels()->loss_pointwise(loss, rows, cols, t, p, sample_weight, grad, options);
}

double fnn_loss_rowwise(int loss, idx_t rows, idx_t cols, const float *t, const float *p,
                        const float *sample_weight, float *grad) {
    return kernels()->loss_rowwise(loss, rows, cols, t, p, sample_weight, grad);
}

double fnn_loss_categorical(idx_t rows, idx_t cols, const float *t, const float *p,
                            const float *sample_weight, float *grad, int from_logits) {
    return kernels()->loss_categorical(rows, cols, t, p, sample_weight, grad, from_logits);
}

double fnn_loss_sparse_categorical(idx_t rows, idx_t cols, const int64_t *labels, const float *p,
                                   const float *sample_weight, float *grad, int from_logits) {
    return kernels()->loss_sparse_categorical(rows, cols, labels, p, sample_weight, grad, from_logits);
}

void fnn_sgd_update(idx_t n, float *p, const float *g, float *velocity, double lr, double momentum,
                    int nesterov, double grad_scale) {
    kernels()->sgd_update(n, p, g, velocity, lr, momentum, nesterov, grad_scale);
}

void fnn_adam_update(idx_t n, float *p, const float *g, float *m, float *v, float *vhat, double lr,
                     double beta1, double beta2, double eps, double step, double grad_scale, double decay) {
    kernels()->adam_update(n, p, g, m, v, vhat, lr, beta1, beta2, eps, step, grad_scale, decay);
}

void fnn_nadam_update(idx_t n, float *p, const float *g, float *m, float *v, double lr, double beta1,
                      double beta2, double eps, double step, double u_product, double grad_scale) {
    kernels()->nadam_update(n, p, g, m, v, lr, beta1, beta2, eps, step, u_product, grad_scale);
}

void fnn_adamax_update(idx_t n, float *p, const float *g, float *m, float *u, double lr, double beta1,
                       double beta2, double eps, double step, double grad_scale) {
    kernels()->adamax_update(n, p, g, m, u, lr, beta1, beta2, eps, step, grad_scale);
}

void fnn_rmsprop_update(idx_t n, float *p, const float *g, float *velocity, float *momentum_buf,
                        float *average_grad, double lr, double rho, double momentum, double eps,
                        int centered, double grad_scale) {
    kernels()->rmsprop_update(n, p, g, velocity, momentum_buf, average_grad, lr, rho, momentum, eps, centered,
                              grad_scale);
}

void fnn_adagrad_update(idx_t n, float *p, const float *g, float *accumulator, double lr, double eps,
                        double grad_scale) {
    kernels()->adagrad_update(n, p, g, accumulator, lr, eps, grad_scale);
}

void fnn_decay_weights(idx_t n, float *p, double factor) { kernels()->decay_weights(n, p, factor); }

void fnn_clip_values(idx_t n, float *x, float limit) { kernels()->clip_values(n, x, limit); }

void fnn_accuracy_counts(int kind, idx_t rows, idx_t cols, const float *t, const int64_t *labels,
                         const float *p, const float *sample_weight, float threshold, idx_t k, double *counts) {
    kernels()->accuracy_counts(kind, rows, cols, t, labels, p, sample_weight, threshold, k, counts);
}

void fnn_lstm_cell_forward(idx_t n, float *gates, idx_t units, float *c, float *c_act, float *h) {
    kernels()->lstm_cell_forward(n, gates, units, c, c_act, h);
}

void fnn_lstm_cell_backward(idx_t n, float *gates, idx_t units, const float *c_act, const float *c_prev,
                            const float *dh, float *dc) {
    kernels()->lstm_cell_backward(n, gates, units, c_act, c_prev, dh, dc);
}
