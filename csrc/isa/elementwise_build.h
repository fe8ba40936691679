/* One instruction-set build of the elementwise kernel families. A wrapper defines FNN_ISA (scalar,
   avx2 or avx512) and includes this file; setup.py compiles each wrapper with its own flags, so gcc
   vectorises the same source, vmath.h included, for that instruction set.

   The public names are renamed with the suffix _<FNN_ISA> before fastnn.h and the family sources are
   read, so the sources keep their plain names while each build defines its own copies; the table at
   the end is what elementwise.c dispatches to. */
#define FNN_ISA_PASTE(name, isa) name##_##isa
#define FNN_ISA_NAME_OF(name, isa) FNN_ISA_PASTE(name, isa)
#define FNN_ISA_NAME(name) FNN_ISA_NAME_OF(name, FNN_ISA)

#define fnn_activation_forward FNN_ISA_NAME(fnn_activation_forward)
#define fnn_activation_backward FNN_ISA_NAME(fnn_activation_backward)
#define fnn_bias_grad FNN_ISA_NAME(fnn_bias_grad)
#define fnn_sum_squares FNN_ISA_NAME(fnn_sum_squares)
#define fnn_loss_pointwise FNN_ISA_NAME(fnn_loss_pointwise)
#define fnn_loss_rowwise FNN_ISA_NAME(fnn_loss_rowwise)
#define fnn_loss_categorical FNN_ISA_NAME(fnn_loss_categorical)
#define fnn_loss_sparse_categorical FNN_ISA_NAME(fnn_loss_sparse_categorical)
#define fnn_sgd_update FNN_ISA_NAME(fnn_sgd_update)
#define fnn_adam_update FNN_ISA_NAME(fnn_adam_update)
#define fnn_nadam_update FNN_ISA_NAME(fnn_nadam_update)
#define fnn_adamax_update FNN_ISA_NAME(fnn_adamax_update)
#define fnn_rmsprop_update FNN_ISA_NAME(fnn_rmsprop_update)
#define fnn_adagrad_update FNN_ISA_NAME(fnn_adagrad_update)
#define fnn_decay_weights FNN_ISA_NAME(fnn_decay_weights)
#define fnn_clip_values FNN_ISA_NAME(fnn_clip_values)
#define fnn_accuracy_counts FNN_ISA_NAME(fnn_accuracy_counts)
#define fnn_lstm_cell_forward FNN_ISA_NAME(fnn_lstm_cell_forward)
#define fnn_lstm_cell_backward FNN_ISA_NAME(fnn_lstm_cell_backward)

#include "../elementwise_dispatch.h"
#include "../activations.c"
#include "../losses.c"
#include "../optim.c"
#include "../reduce.c"
#include "../metrics.c"
#include "../nn/lstm_cell.c"

#define FNN_KERNEL_ENTRY(name) .name = fnn_##name,
const struct fnn_elementwise_kernels FNN_ISA_NAME(fnn_elementwise) = {FNN_ELEMENTWISE_KERNELS(FNN_KERNEL_ENTRY)};
