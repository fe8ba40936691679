"""Keras 3's further losses (fastnn.losses exports them): regression, hinge, distribution and focal
losses over the fused kernels of fastnn.ops (csrc/losses.c), with Keras's clipping and defaults."""
import math

import numpy as np

from ._loss_base import Loss, _first_outside
from .ops._convert import as_float32

__all__ = ["KLDivergence", "Poisson", "LogCosh", "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError",
           "CosineSimilarity", "Hinge", "SquaredHinge", "CategoricalHinge", "BinaryFocalCrossentropy"]


class KLDivergence(Loss):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1] (Keras);
    no gradient where y_pred is clipped."""

    _kernel_name = "loss_kl_divergence"
    _per_element = False
    _default_name = "kl_divergence"


class Poisson(Loss):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""

    _kernel_name = "loss_poisson"
    _default_name = "poisson"


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true))) over the last axis: about x^2 / 2 for small errors, |x| - log 2
    for large ones."""

    _kernel_name = "loss_log_cosh"
    _default_name = "log_cosh"


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2) over the last axis."""

    _kernel_name = "loss_msle"
    _default_name = "mean_squared_logarithmic_error"


class MeanAbsolutePercentageError(Loss):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""

    _kernel_name = "loss_mape"
    _default_name = "mean_absolute_percentage_error"


class CosineSimilarity(Loss):
    """-cos(y_true, y_pred) along the last axis (so minimising it aligns the two): from -1 to 1.

    Args:
        axis: only -1 is supported.
    """

    _kernel_name = "loss_cosine_similarity"
    _per_element = False
    _default_name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction, name, dtype)
        if axis != -1:
            raise ValueError(f"CosineSimilarity: only axis=-1 is supported, got axis={axis!r}")
        self.axis = -1

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis. Targets are -1 or 1; a batch whose targets
    are all 0 or 1 is taken as -1 or 1, as Keras does."""

    _kernel_name = "loss_hinge"
    _default_name = "hinge"


class SquaredHinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)^2) over the last axis; targets as Hinge."""

    _kernel_name = "loss_squared_hinge"
    _default_name = "squared_hinge"


class CategoricalHinge(Loss):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the classes (last axis), for
    one-hot targets."""

    _kernel_name = "loss_categorical_hinge"
    _per_element = False
    _default_name = "categorical_hinge"


class BinaryFocalCrossentropy(Loss):
    """Binary crossentropy scaled by (1 - p_t)^gamma, which weights hard examples up (Lin et al.), the
    mean over the last axis, as Keras 3.

    Args:
        apply_class_balancing: weight positive targets by alpha and negative ones by 1 - alpha.
        alpha: that weight, in [0, 1].
        gamma: the focusing exponent (>= 0; 0 is the binary crossentropy).
        from_logits: y_pred holds logits.
        label_smoothing: targets become y * (1 - s) + 0.5 * s.
        axis: only -1 is supported.
    """

    _kernel_name = "loss_binary_focal_crossentropy"
    _default_name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(reduction, name, dtype)
        for key, value in (("alpha", alpha), ("gamma", gamma), ("label_smoothing", label_smoothing)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"BinaryFocalCrossentropy: {key} must be a number, got {type(value).__name__}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"BinaryFocalCrossentropy: alpha must be in [0, 1], got {alpha!r}")
        if not 0.0 <= gamma or math.isinf(gamma):
            raise ValueError(f"BinaryFocalCrossentropy: gamma must be a finite number >= 0, got {gamma!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"BinaryFocalCrossentropy: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        if axis != -1:
            raise ValueError(f"BinaryFocalCrossentropy: only axis=-1 is supported, got axis={axis!r}")
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = -1

    @property
    def fused_activation(self):
        # the same arithmetic as from_logits=True: sigmoid(z) goes through the clipped crossentropy
        return None if self.from_logits else "sigmoid"

    def _from_logits(self):
        return self.from_logits

    def _kernel_options(self, from_logits):
        return {"gamma": self.gamma, "alpha": self.alpha, "apply_class_balancing": self.apply_class_balancing,
                "from_logits": from_logits}

    def _prepare_target(self, y_true, y_pred):
        if not self.label_smoothing:
            return y_true
        target = as_float32(y_true, f"{self.name}: y_true")
        return target * np.float32(1.0 - self.label_smoothing) + np.float32(0.5 * self.label_smoothing)

    def check_targets(self, y_true, output_shape, what):
        _first_outside(y_true, 0.0, 1.0, f"{what}: binary_focal_crossentropy needs targets in [0, 1]")

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}
