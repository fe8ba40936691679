"""Keras losses as thin objects over fastnn's fused loss kernels (fastnn.ops.nn.loss_*).

Every loss returns Keras's 'sum_over_batch_size' value: per-sample losses (the mean over the last axis
for MSE/MAE/Huber/BCE, the sum over classes for the cross-entropies) weighted by sample_weight, summed
and divided by the number of samples. Inputs of rank > 2, such as (B, T, C), count every (b, t) as a
sample, as Keras does.
"""
import numpy as np

from ._registry import Configurable as _Configurable
from ._registry import Registry as _Registry
from .ops import nn as _nn
from .ops._convert import as_float32

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get", "serialize", "deserialize"]

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


class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the last axis, reduced over samples."""

    _kernel_name = "loss_mse"
    _default_name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis, reduced over samples."""

    _kernel_name = "loss_mae"
    _default_name = "mean_absolute_error"


class Huber(Loss):
    """Quadratic for |error| <= delta, linear beyond, averaged over the last axis.

    Args:
        delta: the error size where the loss turns linear (> 0).
    """

    _kernel_name = "loss_huber"
    _default_name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction, name, dtype)
        if not delta > 0:
            raise ValueError(f"Huber: delta must be positive, got {delta!r}")
        self.delta = float(delta)

    def _kernel_options(self, from_logits):
        return {"delta": self.delta}

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class _Crossentropy(Loss):
    """from_logits and label_smoothing, shared by the cross-entropies."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name=None, dtype=None):
        super().__init__(reduction, name, dtype)
        if axis != -1:
            raise ValueError(f"{type(self).__name__}: only axis=-1 is supported, got axis={axis!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{type(self).__name__}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = -1

    def _from_logits(self):
        return self.from_logits

    def _prepare_target(self, y_true, y_pred):
        if not self.label_smoothing:
            return y_true
        smoothing = self.label_smoothing
        target = as_float32(y_true, f"{self.name}: y_true")
        return target * np.float32(1.0 - smoothing) + np.float32(smoothing * self._smoothing_share(y_pred))

    def _kernel_options(self, from_logits):
        return {"from_logits": from_logits}

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_Crossentropy):
    """Binary cross-entropy, averaged over the last axis (multi-label), reduced over samples.

    Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras; with from_logits=True (or through
    value_and_grad_from_logits) a stable log-sigmoid form is used instead.

    Args:
        from_logits: y_pred holds logits rather than probabilities.
        label_smoothing: targets become y * (1 - s) + 0.5 * s.
    """

    _kernel_name = "loss_binary_crossentropy"
    _default_name = "binary_crossentropy"

    @property
    def fused_activation(self):
        return None if self.from_logits else "sigmoid"

    def _smoothing_share(self, y_pred):
        return 0.5

    def check_targets(self, y_true, output_shape, what):
        _first_outside(y_true, 0.0, 1.0, f"{what}: binary_crossentropy needs targets in [0, 1]")


class CategoricalCrossentropy(_Crossentropy):
    """-sum(y_true * log(p)) over the classes (last axis), reduced over samples.

    Args:
        from_logits: y_pred holds logits; a fused log-softmax is used.
        label_smoothing: targets become y * (1 - s) + s / num_classes.
    """

    _kernel_name = "loss_categorical_crossentropy"
    _per_element = False
    _default_name = "categorical_crossentropy"

    @property
    def fused_activation(self):
        return None if self.from_logits else "softmax"

    def _smoothing_share(self, y_pred):
        return 1.0 / np.shape(y_pred)[-1]


class SparseCategoricalCrossentropy(Loss):
    """Categorical cross-entropy with integer class labels.

    Args:
        from_logits: y_pred holds logits; a fused log-softmax is used.
        ignore_class: only None is supported.

    y_true holds labels (B,) or (B, 1) (integers, or floats with integral values); a label outside
    [0, num_classes) raises ValueError.
    """

    _kernel_name = "loss_sparse_categorical_crossentropy"
    takes_labels = True
    _per_element = False
    _default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        super().__init__(reduction, name, dtype)
        if ignore_class is not None:
            raise ValueError(f"SparseCategoricalCrossentropy: ignore_class is not supported, got {ignore_class!r}")
        self.from_logits = bool(from_logits)
        self.ignore_class = None

    @property
    def fused_activation(self):
        return None if self.from_logits else "softmax"

    def _from_logits(self):
        return self.from_logits

    def _kernel_options(self, from_logits):
        return {"from_logits": from_logits}

    def check_targets(self, y_true, output_shape, what):
        classes = output_shape[-1]
        if classes is not None:
            _first_outside(y_true, 0, classes - 1, f"{what}: sparse_categorical_crossentropy needs class labels "
                                                   f"in [0, {classes}) for an output of {classes} classes")

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


def _first_outside(values, low, high, message):
    """ValueError naming the first sample whose value lies outside [low, high]."""
    flat = values.reshape(len(values), -1)
    bad = ((flat < low) | (flat > high)).any(axis=1) if flat.size else np.zeros(0, bool)
    if bad.any():
        row = int(np.argmax(bad))
        value = flat[row][(flat[row] < low) | (flat[row] > high)][0].item()
        raise ValueError(f"{message}; sample {row} has {value!r}")


_registry = _Registry("loss", Loss)
_registry.add(MeanSquaredError, "mse", "mean_squared_error")
_registry.add(MeanAbsoluteError, "mae", "mean_absolute_error")
_registry.add(Huber, "huber", "huber_loss")
_registry.add(BinaryCrossentropy, "binary_crossentropy")
_registry.add(CategoricalCrossentropy, "categorical_crossentropy")
_registry.add(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")


def get(identifier):
    """A Loss from a name, an instance or a config dict (a plain function is refused: it has no gradient)."""
    if callable(identifier) and not isinstance(identifier, (type, Loss)):
        raise TypeError(f"loss {getattr(identifier, '__name__', identifier)!r} is a plain function: fastnn needs "
                        f"its gradient too. Subclass fastnn.losses.Loss with call(y_true, y_pred) -> per-sample "
                        f"losses and gradient(y_true, y_pred) -> their derivative with respect to y_pred (NumPy), "
                        f"and pass an instance (help(fastnn.losses.Loss) has an example)")
    return _registry.get(identifier)


serialize = _registry.serialize
deserialize = _registry.deserialize
