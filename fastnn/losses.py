"""Keras losses as thin objects over fastnn's fused loss kernels (fastnn.ops.nn.loss_*).

Every loss returns Keras's 'sum_over_batch_size' value: per-sample losses (the mean over the last axis
for MSE/MAE/Huber/BCE, the sum over classes for the cross-entropies) weighted by sample_weight, summed
and divided by the number of samples. Inputs of rank > 2, such as (B, T, C), count every (b, t) as a
sample, as Keras does.
"""
import numpy as np

from ._loss_base import Loss, _first_outside
from ._losses_extra import (BinaryFocalCrossentropy, CategoricalHinge, CosineSimilarity, Hinge, KLDivergence, LogCosh,
                            MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Poisson, SquaredHinge)
from ._registry import Registry as _Registry
from .ops._convert import as_float32

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "LogCosh",
           "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError", "CosineSimilarity", "Hinge",
           "SquaredHinge", "CategoricalHinge", "BinaryFocalCrossentropy", "get", "serialize", "deserialize"]


class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the last axis, reduced over samples."""

    _kernel_name = "loss_mse"
    _default_name = "mean_squared_error"
    _pointwise_name = "mse"


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis, reduced over samples."""

    _kernel_name = "loss_mae"
    _default_name = "mean_absolute_error"
    _pointwise_name = "mae"


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

    def _pointwise(self, fused):
        return "huber", {"delta": self.delta}

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

    def _pointwise(self, fused):
        if self.label_smoothing:
            return None
        return "binary_crossentropy_from_logits" if fused or self.from_logits else "binary_crossentropy", {}

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


_registry = _Registry("loss", Loss)
_registry.add(MeanSquaredError, "mse", "mean_squared_error")
_registry.add(MeanAbsoluteError, "mae", "mean_absolute_error")
_registry.add(Huber, "huber", "huber_loss")
_registry.add(BinaryCrossentropy, "binary_crossentropy")
_registry.add(CategoricalCrossentropy, "categorical_crossentropy")
_registry.add(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
_registry.add(KLDivergence, "kl_divergence", "kld")
_registry.add(Poisson, "poisson")
_registry.add(LogCosh, "log_cosh")
_registry.add(MeanSquaredLogarithmicError, "msle", "mean_squared_logarithmic_error")
_registry.add(MeanAbsolutePercentageError, "mape", "mean_absolute_percentage_error")
_registry.add(CosineSimilarity, "cosine_similarity")
_registry.add(Hinge, "hinge")
_registry.add(SquaredHinge, "squared_hinge")
_registry.add(CategoricalHinge, "categorical_hinge")
_registry.add(BinaryFocalCrossentropy, "binary_focal_crossentropy")


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
