/* The dispatch table of the elementwise kernel families (activations, losses, optimizer updates,
   reductions, metrics, the LSTM cell). Their sources are compiled once per instruction set
   (csrc/isa/), each build exporting one table; elementwise.c forwards every public fnn_* entry point
   to the table of the SIMD path in force (fnn_simd_get), as the GEMM picks its micro-kernel. */
#ifndef FNN_ELEMENTWISE_DISPATCH_H
#define FNN_ELEMENTWISE_DISPATCH_H

#include "fastnn.h"

/* Every entry point a per-ISA build exports, without its fnn_ prefix. */
#define FNN_ELEMENTWISE_KERNELS(X)                                                                 \
    X(activation_forward) X(activation_backward) X(bias_grad) X(sum_squares) X(loss_pointwise)     \
    X(loss_rowwise) X(loss_categorical) X(loss_sparse_categorical) X(sgd_update) X(adam_update)    \
    X(nadam_update) X(adamax_update) X(rmsprop_update) X(adagrad_update) X(decay_weights)          \
    X(clip_values) X(accuracy_counts) X(lstm_cell_forward) X(lstm_cell_backward)

/* One pointer per entry point, typed as its declaration in fastnn.h. */
struct fnn_elementwise_kernels {
#define FNN_KERNEL_MEMBER(name) __typeof__(fnn_##name) *name;
    FNN_ELEMENTWISE_KERNELS(FNN_KERNEL_MEMBER)
#undef FNN_KERNEL_MEMBER
};

extern const struct fnn_elementwise_kernels fnn_elementwise_scalar;
#ifdef FASTNN_X86
extern const struct fnn_elementwise_kernels fnn_elementwise_avx2;
extern const struct fnn_elementwise_kernels fnn_elementwise_avx512;
#endif

#endif
