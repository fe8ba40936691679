"""The Loss base: reductions, config, Keras's shape handling around the fused kernels, custom losses."""
import numpy as np

from . import _C
from ._registry import Configurable as _Configurable
from .ops import nn as _nn

_REDUCTIONS = ("sum_over_batch_size", "mean", "sum")


class Loss(_Configurable):
    """Base of the losses: reduction, name, config and the shared input handling.

    A custom loss subclasses Loss and defines, in NumPy, call(y_true, y_pred) -> the per-sample losses
    (shape y_pred.shape[:-1]) and gradient(y_true, y_pred) -> their derivative with respect to y_pred
    (y_pred's shape); the base weights, reduces and scales both, as Keras reduces a loss.

    Example:
        >>> class LogCosh(fastnn.losses.Loss):
        ...     def call(self, y_true, y_pred):
        ...         return np.mean(np.log(np.cosh(y_pred - y_true)), axis=-1)
        ...     def gradient(self, y_true, y_pred):
        ...         return np.tanh(y_pred - y_true) / y_pred.shape[-1]
        >>> model.compile(optimizer="adam", loss=LogCosh())

    Args:
        reduction: 'sum_over_batch_size' (default; 'mean' is the same) or 'sum'.
        name: the name shown in logs.
        dtype: None or 'float32' (fastnn computes in float32).
    """

    _kernel_name = None  # name of the ops.nn loss function each subclass calls
    takes_labels = False  # y_true holds integer class labels (kept as int64) rather than values like y_pred
    _per_element = True  # the per-sample loss averages the last axis (False for the cross-entropies over classes)
    _default_name = "loss"
    _pointwise_name = None  # the _C.POINTWISE_LOSSES kernel that is this loss, options aside (pointwise_kernel)

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {', '.join(_REDUCTIONS)}, "
                             f"got {reduction!r}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 is supported, got dtype={dtype!r}")
        self.reduction = reduction
        self.name = self._default_name if name is None else str(name)

    @property
    def fused_activation(self):
        """The last-layer activation this loss can fuse with ('sigmoid', 'softmax') or None."""
        return None

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss as a Python float."""
        return self.value_and_grad(y_true, y_pred, sample_weight)[0]

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad_out=None):
        """The loss and its gradient with respect to y_pred.

        Args:
            y_true: targets shaped like y_pred, or missing/adding a trailing axis of 1 ((B,) for (B, 1));
                integer labels (B,) or (B, 1) for SparseCategoricalCrossentropy.
            y_pred: predictions, (B, ..., D); (B,) counts as (B, 1) for the per-element losses.
            sample_weight: optional per-sample weights, (B, ...) or (B, ..., 1); (B,) for (B, T, D).
            grad_out: optional C-contiguous float32 array shaped like y_pred for the gradient.

        Returns:
            (loss as a float, gradient as a float32 array shaped like y_pred).
        """
        return self._run(y_true, y_pred, sample_weight, grad_out, self._from_logits())

    def value_and_grad_from_logits(self, y_true, z, sample_weight=None, grad_out=None):
        """The loss of fused_activation(z) and its gradient with respect to z, in one fused kernel.

        When fused_activation is None (regression losses, or from_logits=True) the predictions are
        already z and this is value_and_grad.
        """
        return self._run(y_true, z, sample_weight, grad_out, True)

    def _from_logits(self):
        return False

    def pointwise_kernel(self, fused):
        """(code, options) when this loss and its gradient are one fastnn._C.loss_pointwise call (code from
        _C.POINTWISE_LOSSES, options its keyword arguments) on the targets as they come, else None; a
        training step may then run the kernel itself. fused: the predictions are the logits of
        fused_activation (value_and_grad_from_logits). The 'sum' reduction scales the value and gradient
        here, outside the kernel, so it has none."""
        pointwise = self._pointwise(fused)
        if pointwise is None or self.reduction == "sum":
            return None
        name, options = pointwise
        return _C.POINTWISE_LOSSES[name], options

    def _pointwise(self, fused):
        """(name in _C.POINTWISE_LOSSES, options) of the kernel that is this loss, or None."""
        return None if self._pointwise_name is None else (self._pointwise_name, {})

    def call(self, y_true, y_pred):
        """The per-sample losses (shape y_pred.shape[:-1]); a custom loss defines it with gradient()."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred) and "
                                  f"gradient(y_true, y_pred)")

    def gradient(self, y_true, y_pred):
        """d call(y_true, y_pred) / d y_pred, shaped like y_pred (a custom loss defines it)."""
        raise NotImplementedError(f"{type(self).__name__} must define gradient(y_true, y_pred)")

    def _run_custom(self, y_true, y_pred, sample_weight, grad_out):
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        per_sample = np.asarray(self.call(y_true, y_pred), dtype=np.float64)
        grad = np.asarray(self.gradient(y_true, y_pred), dtype=np.float64)
        if per_sample.shape != y_pred.shape[:-1] or grad.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__}: call() must return shape {y_pred.shape[:-1]} and gradient() "
                             f"shape {y_pred.shape}, got {per_sample.shape} and {grad.shape}")
        weights = np.ones(per_sample.shape) if sample_weight is None else \
            np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(per_sample.shape[:1] + (1,) * (
                per_sample.ndim - 1)), per_sample.shape)
        scale = 1.0 if self.reduction == "sum" else 1.0 / max(per_sample.size, 1)
        grad = grad * (weights * scale)[..., None]
        out = np.empty(y_pred.shape, np.float32) if grad_out is None else grad_out.reshape(y_pred.shape)
        out[...] = grad
        return float(np.sum(per_sample * weights) * scale), out

    def _run(self, y_true, y_pred, sample_weight, grad_out, from_logits):
        if self._kernel_name is None:
            return self._run_custom(y_true, y_pred, sample_weight, grad_out)
        shape = y_pred.shape if type(y_pred) is np.ndarray else np.shape(y_pred)
        if self._per_element and len(shape) == 1:  # (B,) predictions are one value per sample, as (B, 1)
            y_pred = np.reshape(y_pred, (-1, 1))
            y_true = np.reshape(y_true, (-1, 1)) if np.size(y_true) == np.size(y_pred) else y_true
            grad_out = None if grad_out is None else grad_out.reshape(-1, 1)
        target = self._prepare_target(y_true, y_pred)
        kernel = getattr(_nn, self._kernel_name)
        loss, grad = kernel(target, y_pred, sample_weight, grad_out, **self._kernel_options(from_logits))
        if self.reduction == "sum":
            samples = grad.size // grad.shape[-1]
            loss *= samples
            grad *= samples
        return float(loss), grad if grad.shape == shape else grad.reshape(shape)

    def _kernel_options(self, from_logits):
        return {}

    def check_targets(self, y_true, output_shape, what):
        """Refuse targets this loss cannot take (fit and evaluate check the whole data once, before any
        weight changes). The base accepts any finite values."""

    def _prepare_target(self, y_true, y_pred):
        return y_true

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


def _first_outside(values, low, high, message):
    """ValueError naming the first sample whose value lies outside [low, high]."""
    flat = values.reshape(len(values), -1)
    bad = ((flat < low) | (flat > high)).any(axis=1) if flat.size else np.zeros(0, bool)
    if bad.any():
        row = int(np.argmax(bad))
        value = flat[row][(flat[row] < low) | (flat[row] > high)][0].item()
        raise ValueError(f"{message}; sample {row} has {value!r}")
