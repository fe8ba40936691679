"""F-beta/F1 scores and R^2 as Keras 3's stateful metrics: per-class sums kept in float64 over every
batch seen, combined in result() exactly as Keras combines them (its epsilon 1e-7 included)."""
import math
import warnings

import numpy as np

from .._shapes import broadcast_weights as _broadcast_weights
from .base import Metric, _same_rank

__all__ = ["FBetaScore", "F1Score", "R2Score"]

_EPS = 1e-7


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    return float(value)


def _matrices(metric, y_true, y_pred):
    """(y_true, y_pred) as float64 (batch, classes), the class count fixed by the first batch."""
    y_true, y_pred = (np.asarray(a, np.float64) for a in _same_rank(y_true, y_pred))
    kind = type(metric).__name__
    if y_pred.ndim != 2:
        raise ValueError(f"{kind} expects 2-D inputs (batch_size, output_dim), got shape {y_pred.shape}")
    if metric.classes is not None and y_pred.shape[1] != metric.classes:
        raise ValueError(f"{kind}: this metric has seen {metric.classes} classes, got a batch of shape {y_pred.shape}")
    metric.classes = y_pred.shape[1]
    return y_true, y_pred


class FBetaScore(Metric):
    """The F-beta score, (1 + beta^2) precision recall / (beta^2 precision + recall), per class.

    Args:
        average: None (one score per class), 'micro' (counts pooled over classes), 'macro' (mean of the
            class scores) or 'weighted' (class scores weighted by each class's weighted target sum).
        beta: the weight of recall against precision (> 0).
        threshold: predictions above it count as positive; None takes each row's largest prediction
            (and its ties) as the positive one.
        name, dtype: as every metric.

    update_state takes (batch, classes) targets and predictions and optional (batch,) weights.
    """

    _default_name = "fbeta_score"

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None):
        kind = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{kind}: average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
        beta = _number(beta, f"{kind}: beta")
        if not 0 < beta < math.inf:
            raise ValueError(f"{kind}: beta must be a finite number > 0, got {beta!r}")
        if threshold is not None:
            threshold = _number(threshold, f"{kind}: threshold")
            if not 0 < threshold <= 1:
                raise ValueError(f"{kind}: threshold must satisfy 0 < threshold <= 1, got {threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        super().__init__(name, dtype)

    @property
    def result_is_scalar(self):
        return self.average is not None

    def reset_state(self):
        self.classes = None
        self.true_positives = self.false_positives = self.false_negatives = self.intermediate_weights = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _matrices(self, y_true, y_pred)
        if self.threshold is None:
            positive = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            positive = y_pred > self.threshold
        positive = positive.astype(np.float64)
        weights = 1.0 if sample_weight is None else _broadcast_weights(sample_weight, y_pred.shape[:1])[:, None]
        axis = None if self.average == "micro" else 0
        self.true_positives = self.true_positives + np.sum(positive * y_true * weights, axis=axis)
        self.false_positives = self.false_positives + np.sum(positive * (1 - y_true) * weights, axis=axis)
        self.false_negatives = self.false_negatives + np.sum((1 - positive) * y_true * weights, axis=axis)
        self.intermediate_weights = self.intermediate_weights + np.sum(y_true * weights, axis=axis)

    def result(self):
        tp = np.asarray(self.true_positives, np.float64)
        precision = tp / (tp + self.false_positives + _EPS)
        recall = tp / (tp + self.false_negatives + _EPS)
        beta2 = self.beta ** 2
        scores = precision * recall / (beta2 * precision + recall + _EPS) * (1 + beta2)
        if self.average == "weighted":
            weights = np.asarray(self.intermediate_weights, np.float64)
            return float(np.sum(scores * weights / (np.sum(weights) + _EPS)))
        if self.average is not None:
            return float(np.mean(scores))
        return scores

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "average": self.average, "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall; see FBetaScore."""

    _default_name = "f1_score"

    def __init__(self, average=None, threshold=None, name=None, dtype=None):
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class R2Score(Metric):
    """The coefficient of determination over every batch seen, per output, as Keras 3.

    Args:
        class_aggregation: 'uniform_average' (mean over outputs), 'variance_weighted_average' (outputs
            weighted by their target variance) or None (one score per output).
        num_regressors: p of the adjusted R^2, 1 - (1 - R^2)(n - 1)/(n - p - 1); 0 for the plain score.
        name, dtype: as every metric.
    """

    _default_name = "r2_score"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name=None, dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, (int, np.integer)):
            raise TypeError(f"R2Score: num_regressors must be an int, got {type(num_regressors).__name__}")
        if num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0, got {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name, dtype)

    @property
    def result_is_scalar(self):
        return self.class_aggregation is not None

    def reset_state(self):
        self.classes = None
        self.sum = self.squared_sum = self.total_mse = self.count = 0.0
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _matrices(self, y_true, y_pred)
        weights = np.ones_like(y_true) if sample_weight is None else _broadcast_weights(sample_weight, y_true.shape)
        self.sum = self.sum + np.sum(y_true * weights, axis=0)
        self.squared_sum = self.squared_sum + np.sum(y_true * y_true * weights, axis=0)
        self.total_mse = self.total_mse + np.sum((y_true - y_pred) ** 2 * weights, axis=0)
        self.count = self.count + np.sum(weights, axis=0)
        self.num_samples += y_true.size

    def result(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.asarray(self.sum, np.float64) / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            score = float(np.sum(total * raw) / np.sum(total))
        else:
            score = raw
        n, p = self.num_samples, self.num_regressors
        if p:
            if p >= n - 1:
                warnings.warn(f"R2Score: {p} regressors for {n} values leave no degrees of freedom; "
                              f"the plain R^2 score is returned", stacklevel=2)
            else:
                score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return score

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
