"""Keras's further losses on fastnn's fused C kernels (csrc/losses.c): each call returns the loss
(Keras's sum_over_batch_size value, as the ops in losses.py) and its gradient from one pass."""
import numpy as np

from .. import _C
from .._C import is_f32
from ._convert import as_float32_operand
from .losses import _fused

__all__ = ["loss_poisson", "loss_log_cosh", "loss_msle", "loss_mape", "loss_hinge", "loss_squared_hinge",
           "loss_kl_divergence", "loss_binary_focal_crossentropy", "loss_cosine_similarity",
           "loss_categorical_hinge"]

_CODES = _C.POINTWISE_LOSSES
_ROWWISE = _C.ROWWISE_LOSSES


def _pointwise(name, y_true, y_pred, sample_weight, grad_out, **options):
    return _fused(_C.loss_pointwise, _CODES[name], f"loss_{name}", y_true, y_pred, sample_weight, grad_out,
                  **options)


def loss_poisson(y_true, y_pred, sample_weight=None, grad_out=None):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis, and its gradient.

    Args:
        y_true: targets, shaped like y_pred.
        y_pred: (B, ..., D) predictions.
        sample_weight: optional (B, ...) weight per sample.
        grad_out: optional C-contiguous float32 array of y_pred's shape for the gradient (may be y_pred).

    Returns:
        (loss, grad) as fastnn.ops.loss_mse.
    """
    return _pointwise("poisson", y_true, y_pred, sample_weight, grad_out)


def loss_log_cosh(y_true, y_pred, sample_weight=None, grad_out=None):
    """mean(log(cosh(y_pred - y_true))) over the last axis (Keras's x + softplus(-2x) - log 2), and its
    gradient tanh(y_pred - y_true) scaled; as loss_poisson."""
    return _pointwise("log_cosh", y_true, y_pred, sample_weight, grad_out)


def loss_msle(y_true, y_pred, sample_weight=None, grad_out=None):
    """Mean squared logarithmic error: mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2),
    eps = 1e-7; no gradient where y_pred < eps; as loss_poisson."""
    return _pointwise("msle", y_true, y_pred, sample_weight, grad_out)


def loss_mape(y_true, y_pred, sample_weight=None, grad_out=None):
    """Mean absolute percentage error: 100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)); as
    loss_poisson."""
    return _pointwise("mape", y_true, y_pred, sample_weight, grad_out)


def hinge_targets(y_true, what):
    """Keras's convert_binary_labels_to_hinge: targets that are all 0 or 1 become -1 or 1; any other
    targets (already -1/1) stay as they are."""
    y_true = y_true if is_f32(y_true) else as_float32_operand(y_true, f"{what}: y_true")
    if np.all((y_true == 0) | (y_true == 1)):
        return y_true * np.float32(2) - np.float32(1)
    return y_true


def loss_hinge(y_true, y_pred, sample_weight=None, grad_out=None):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; targets all in {0, 1} are taken as {-1, 1}
    first, as Keras does; as loss_poisson."""
    return _pointwise("hinge", hinge_targets(y_true, "loss_hinge"), y_pred, sample_weight, grad_out)


def loss_squared_hinge(y_true, y_pred, sample_weight=None, grad_out=None):
    """mean(max(1 - y_true * y_pred, 0)^2); targets as in loss_hinge."""
    return _pointwise("squared_hinge", hinge_targets(y_true, "loss_squared_hinge"), y_pred, sample_weight,
                      grad_out)


def loss_kl_divergence(y_true, y_pred, sample_weight=None, grad_out=None):
    """Kullback-Leibler divergence sum(y_true * log(y_true / y_pred)) over the last axis, both clipped
    to [1e-7, 1] as Keras does (no gradient where y_pred is clipped); as loss_poisson."""
    return _pointwise("kl_divergence", y_true, y_pred, sample_weight, grad_out)


def loss_binary_focal_crossentropy(y_true, y_pred, sample_weight=None, grad_out=None, gamma=2.0, alpha=0.25,
                                   apply_class_balancing=False, from_logits=False):
    """Binary focal crossentropy (Keras 3): the clipped binary crossentropy times (1 - p_t)^gamma,
    p_t = y p + (1 - y)(1 - p), times y alpha + (1 - y)(1 - alpha) with apply_class_balancing; the mean
    over the last axis. With from_logits p = sigmoid(y_pred) and grad is d/d logits. Otherwise as
    loss_poisson."""
    gamma, alpha = float(gamma), float(alpha)
    if not 0.0 <= gamma < float("inf"):
        raise ValueError(f"loss_binary_focal_crossentropy: gamma must be a finite number >= 0, got {gamma}")
    name = "binary_focal_crossentropy_from_logits" if from_logits else "binary_focal_crossentropy"
    weights = (alpha, 1.0 - alpha) if apply_class_balancing else (1.0, 1.0)
    return _fused(_C.loss_pointwise, _CODES[name], "loss_binary_focal_crossentropy", y_true, y_pred,
                  sample_weight, grad_out, gamma=gamma, alpha_pos=weights[0], alpha_neg=weights[1])


def loss_cosine_similarity(y_true, y_pred, sample_weight=None, grad_out=None):
    """-cos(y_true, y_pred) along the last axis (each side L2-normalised as Keras: x * min(1/|x|, 1e7)),
    and its gradient; as loss_poisson."""
    return _fused(_C.loss_rowwise, _ROWWISE["cosine_similarity"], "loss_cosine_similarity", y_true, y_pred,
                  sample_weight, grad_out)


def loss_categorical_hinge(y_true, y_pred, sample_weight=None, grad_out=None):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis (classes);
    the max's gradient is shared by the classes attaining it; as loss_poisson."""
    return _fused(_C.loss_rowwise, _ROWWISE["categorical_hinge"], "loss_categorical_hinge", y_true, y_pred,
                  sample_weight, grad_out)
