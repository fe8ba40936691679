"""Fused losses on fastnn's C kernels: each call returns the loss and its gradient from one pass."""
import numpy as np

from .. import _C
from .._C import empty_like_f32, is_f32, is_i64
from .._shapes import row_labels, row_weights, target_like
from ._convert import as_float32_operand, check_out

__all__ = ["loss_mse", "loss_mae", "loss_huber", "loss_binary_crossentropy", "loss_categorical_crossentropy",
           "loss_sparse_categorical_crossentropy"]

_F32 = np.dtype(np.float32)
_MSE, _MAE, _HUBER, _BCE, _BCE_LOGITS = (_C.POINTWISE_LOSSES[k] for k in (
    "mse", "mae", "huber", "binary_crossentropy", "binary_crossentropy_from_logits"))


def _direct_pred(y_pred, sample_weight, grad_out):
    """Whether y_pred, sample_weight and grad_out can go to a loss binding as they are (the fast path):
    float32 C-contiguous, one weight per row, the gradient shaped like y_pred. Anything else takes the
    slow path, which converts and applies Keras's shape rules (fastnn._shapes)."""
    return is_f32(y_pred) and y_pred.ndim and (grad_out is None or is_f32(grad_out) and grad_out.shape == y_pred.shape) \
        and (sample_weight is None or is_f32(sample_weight) and sample_weight.shape == y_pred.shape[:-1])


def _direct(y_true, y_pred, sample_weight, grad_out):
    """_direct_pred, and float32 targets of y_pred's own shape."""
    return is_f32(y_true) and is_f32(y_pred) and y_true.shape == y_pred.shape and \
        _direct_pred(y_pred, sample_weight, grad_out)


def _loss_inputs(y_pred, sample_weight, grad_out, what):
    """(y_pred, sample weights or None, grad buffer) with y_pred at least 1-D, its last axis non-empty."""
    y_pred = as_float32_operand(y_pred, f"{what}: y_pred")
    shape = y_pred.shape
    if not shape or shape[-1] == 0:
        raise ValueError(f"{what}: y_pred must be at least 1-D with a non-empty last axis, got shape {shape}")
    w = None if sample_weight is None else row_weights(sample_weight, shape[:-1], what)
    grad = np.empty(shape, _F32) if grad_out is None else check_out(grad_out, shape, what)
    return y_pred, w, grad


def _fused(binding, code, what, y_true, y_pred, sample_weight, grad_out, **options):
    """Runs a loss binding that takes a code (loss_pointwise, loss_rowwise) after Keras's shape rules."""
    if _direct(y_true, y_pred, sample_weight, grad_out):
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return binding(code, y_true, y_pred, sample_weight, grad, **options), grad
    y_pred, w, grad = _loss_inputs(y_pred, sample_weight, grad_out, what)
    y_true = target_like(as_float32_operand(y_true, f"{what}: y_true"), y_pred.shape, what)
    return binding(code, y_true, y_pred, w, grad, **options), grad


def _pointwise(code, what, y_true, y_pred, sample_weight, grad_out, delta=1.0):
    return _fused(_C.loss_pointwise, code, what, y_true, y_pred, sample_weight, grad_out, delta=delta)


def loss_mse(y_true, y_pred, sample_weight=None, grad_out=None):
    """Mean squared error and its gradient in one pass.

    Args:
        y_true: targets, shaped like y_pred.
        y_pred: (B, ..., D) predictions; the per-sample loss is the mean over the last axis.
        sample_weight: optional (B, ...) weight per sample.
        grad_out: optional C-contiguous float32 array of y_pred's shape to receive the gradient
            (may be y_pred itself).

    Returns:
        (loss, grad): loss is a float (Keras's sum_over_batch_size: the weighted per-sample losses
        summed and divided by the number of samples); grad = d loss / d y_pred, float32.
    """
    return _pointwise(_MSE, "loss_mse", y_true, y_pred, sample_weight, grad_out)


def loss_mae(y_true, y_pred, sample_weight=None, grad_out=None):
    """Mean absolute error and its gradient (sign(y_pred - y_true), 0 where equal); as loss_mse."""
    return _pointwise(_MAE, "loss_mae", y_true, y_pred, sample_weight, grad_out)


def loss_huber(y_true, y_pred, sample_weight=None, grad_out=None, delta=1.0):
    """Huber loss (quadratic for |error| <= delta, linear beyond) and its gradient; as loss_mse."""
    delta = float(delta)
    if not 0.0 <= delta < float("inf"):
        raise ValueError(f"loss_huber: delta must be a finite number >= 0, got {delta}")
    return _pointwise(_HUBER, "loss_huber", y_true, y_pred, sample_weight, grad_out, delta)


def loss_binary_crossentropy(y_true, y_pred, sample_weight=None, grad_out=None, from_logits=False):
    """Binary crossentropy and its gradient; the per-sample loss is the mean over the last axis.

    Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; where y_pred lies outside that range
    the gradient is 0 (the clip's derivative; NaN for a NaN y_pred). With from_logits=True, y_pred
    holds logits z, the loss uses the stable form max(z, 0) - z*y + log(1 + exp(-|z|)) and
    grad = (sigmoid(z) - y_true) * w / (B*D). Otherwise as loss_mse.
    """
    code = _BCE_LOGITS if from_logits else _BCE
    return _pointwise(code, "loss_binary_crossentropy", y_true, y_pred, sample_weight, grad_out)


def loss_categorical_crossentropy(y_true, y_pred, sample_weight=None, grad_out=None, from_logits=False):
    """Categorical crossentropy over the last axis and its gradient.

    Args:
        y_true: (B, ..., C) target distributions (e.g. one-hot).
        y_pred: (B, ..., C) probabilities (normalised per row then clipped to [1e-7, 1 - 1e-7] as
            Keras does) or, with from_logits=True, logits z (fused log-softmax).
        sample_weight, grad_out: as in loss_mse.

    Returns:
        (loss, grad). With from_logits grad = (softmax(z) * sum(y_true) - y_true) * w / B, which is
        (softmax(z) - y_true) * w / B for targets that sum to 1. Without it, probabilities that are
        clipped pass no gradient (a NaN one passes NaN).
    """
    if _direct(y_true, y_pred, sample_weight, grad_out):
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return _C.loss_categorical(y_true, y_pred, sample_weight, grad, from_logits), grad
    what = "loss_categorical_crossentropy"
    y_pred, w, grad = _loss_inputs(y_pred, sample_weight, grad_out, what)
    y_true = target_like(as_float32_operand(y_true, f"{what}: y_true"), y_pred.shape, what)
    return _C.loss_categorical(y_true, y_pred, w, grad, bool(from_logits)), grad


def loss_sparse_categorical_crossentropy(labels, y_pred, sample_weight=None, grad_out=None, from_logits=False):
    """Categorical crossentropy against integer labels, and its gradient.

    Args:
        labels: (B, ...) or (B, ..., 1) integer class indices in [0, C); any other value is a ValueError.
        y_pred: (B, ..., C) probabilities or, with from_logits=True, logits.
        sample_weight, grad_out: as in loss_mse.

    Returns:
        (loss, grad) as loss_categorical_crossentropy with one-hot targets.
    """
    if is_i64(labels) and _direct_pred(y_pred, sample_weight, grad_out) and labels.shape == y_pred.shape[:-1]:
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return _C.loss_sparse_categorical(labels, y_pred, sample_weight, grad, from_logits), grad
    what = "loss_sparse_categorical_crossentropy"
    y_pred, w, grad = _loss_inputs(y_pred, sample_weight, grad_out, what)
    lab = row_labels(labels, y_pred.shape[:-1], what)
    return _C.loss_sparse_categorical(lab, y_pred, w, grad, bool(from_logits)), grad
