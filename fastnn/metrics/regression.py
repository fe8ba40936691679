"""Regression metrics: mean absolute, mean squared and root mean squared error (NumPy, float64)."""
import numpy as np

from .base import _same_rank, _SampleMean

__all__ = ["MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError"]


class MeanAbsoluteError(_SampleMean):
    """mean(|y_true - y_pred|) over the last axis, averaged over samples."""

    _default_name = "mean_absolute_error"

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return np.abs(y_true.astype(np.float64) - y_pred).mean(axis=-1)


class MeanSquaredError(_SampleMean):
    """mean((y_true - y_pred)^2) over the last axis, averaged over samples."""

    _default_name = "mean_squared_error"

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return np.square(y_true.astype(np.float64) - y_pred).mean(axis=-1)


class RootMeanSquaredError(_SampleMean):
    """sqrt of the mean squared error over every element seen."""

    _default_name = "root_mean_squared_error"

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return np.square(y_true.astype(np.float64) - y_pred)

    def result(self):
        return float(np.sqrt(super().result()))
