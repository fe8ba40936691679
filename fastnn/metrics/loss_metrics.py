"""The metric forms of Keras's regression, distribution and hinge losses: the weighted mean of the
per-sample loss over every batch seen (NumPy, float64), with the losses' clipping."""
import numpy as np

from .base import _same_rank, _SampleMean

__all__ = ["KLDivergence", "Poisson", "LogCoshError", "CosineSimilarity", "MeanSquaredLogarithmicError",
           "MeanAbsolutePercentageError", "Hinge", "SquaredHinge", "CategoricalHinge"]

_EPS = 1e-7


def _pair(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return y_true.astype(np.float64), y_pred.astype(np.float64)


def _hinge_targets(y_true):
    """Keras's convert_binary_labels_to_hinge: a batch of 0/1 targets becomes -1/1."""
    return 2 * y_true - 1 if np.all((y_true == 0) | (y_true == 1)) else y_true


def _unit(x):
    """Keras's normalize: x * min(1/|x|, 1/eps) along the last axis (a zero vector stays zero)."""
    with np.errstate(divide="ignore"):
        return x * np.minimum(1 / np.sqrt(np.sum(x * x, -1, keepdims=True)), 1 / _EPS)


class KLDivergence(_SampleMean):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]."""

    _default_name = "kl_divergence"

    def _values(self, y_true, y_pred):
        t, p = (np.clip(a, _EPS, 1) for a in _pair(y_true, y_pred))
        return np.sum(t * np.log(t / p), -1)


class Poisson(_SampleMean):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""

    _default_name = "poisson"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return np.mean(p - t * np.log(p + _EPS), -1)


class LogCoshError(_SampleMean):
    """mean(log(cosh(y_pred - y_true))) over the last axis."""

    _default_name = "logcosh"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        x = p - t
        return np.mean(x + np.logaddexp(0, -2 * x) - np.log(2), -1)


class CosineSimilarity(_SampleMean):
    """cos(y_true, y_pred) along the last axis (positive, unlike the loss), averaged over samples.

    Args:
        axis: only -1 is supported.
    """

    _default_name = "cosine_similarity"

    def __init__(self, name=None, dtype=None, axis=-1):
        if axis != -1:
            raise ValueError(f"CosineSimilarity: only axis=-1 is supported, got axis={axis!r}")
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return np.sum(_unit(t) * _unit(p), -1)


class MeanSquaredLogarithmicError(_SampleMean):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2) over the last axis."""

    _default_name = "mean_squared_logarithmic_error"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return np.mean((np.log1p(np.maximum(p, _EPS)) - np.log1p(np.maximum(t, _EPS))) ** 2, -1)


class MeanAbsolutePercentageError(_SampleMean):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""

    _default_name = "mean_absolute_percentage_error"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return 100 * np.mean(np.abs(t - p) / np.maximum(np.abs(t), _EPS), -1)


class Hinge(_SampleMean):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; a batch of 0/1 targets counts as -1/1."""

    _default_name = "hinge"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return np.mean(np.maximum(1 - _hinge_targets(t) * p, 0), -1)


class SquaredHinge(_SampleMean):
    """mean(max(1 - y_true * y_pred, 0)^2) over the last axis; targets as Hinge."""

    _default_name = "squared_hinge"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return np.mean(np.maximum(1 - _hinge_targets(t) * p, 0) ** 2, -1)


class CategoricalHinge(_SampleMean):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis."""

    _default_name = "categorical_hinge"

    def _values(self, y_true, y_pred):
        t, p = _pair(y_true, y_pred)
        return np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0)
