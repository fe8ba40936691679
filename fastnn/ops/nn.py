"""Activations, losses, optimizer updates and accuracy counts on fastnn's C kernels, in one namespace.

These run several times per training step, so each wrapper starts with a fast path, taken when its
inputs are already what the binding needs (C-contiguous float32 ndarrays, int64 labels, default
options): it hands them straight to the binding, which checks dtypes, contiguity, shapes and overlaps
in C and raises clear errors. Anything else takes the slow path, which converts and explains.
"""
from .activations import (ACTIVATIONS, activation_backward, activation_backward_input, activation_forward, bias_grad,
                          relu, relu_backward)
from .losses import (loss_binary_crossentropy, loss_categorical_crossentropy, loss_huber, loss_mae, loss_mse,
                     loss_sparse_categorical_crossentropy)
from .losses_extra import __all__ as _extra_losses
from .losses_extra import *  # noqa: F401,F403
from .metrics import ACCURACY_KINDS, accuracy_counts
from .optim import (adagrad_update, adam_update, adamax_update, clip_values, decay_weights, l2_norm, nadam_update,
                    rmsprop_update, sgd_update)

__all__ = [
    "ACTIVATIONS", "activation_forward", "activation_backward", "activation_backward_input", "bias_grad", "relu",
    "relu_backward",
    "loss_mse", "loss_mae", "loss_huber", "loss_binary_crossentropy", "loss_categorical_crossentropy",
    "loss_sparse_categorical_crossentropy", *_extra_losses,
    "sgd_update", "adam_update", "nadam_update", "adamax_update", "rmsprop_update", "adagrad_update",
    "decay_weights", "l2_norm", "clip_values",
    "ACCURACY_KINDS", "accuracy_counts",
]
