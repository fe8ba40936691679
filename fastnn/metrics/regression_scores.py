"""Regression scores over whole arrays, returning the same numbers as scikit-learn's functions.

NaN in the targets or predictions gives NaN, as in NumPy.
"""
import numpy as np

from ._targets import sample_weights, warn_undefined

__all__ = ["mean_absolute_error", "mean_squared_error", "r2_score"]

_MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


def _regression_targets(y_true, y_pred, sample_weight, multioutput, what):
    arrays = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{what}: {name} must hold numbers, got dtype {y.dtype}")
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            raise ValueError(f"{what}: {name} must be (n,) or (n, outputs), got shape {y.shape}")
        arrays.append(y.astype(np.float64))
    y_true, y_pred = arrays
    if len(y_true) != len(y_pred):
        raise ValueError(f"{what}: y_true and y_pred need the same number of samples, got {len(y_true)} "
                         f"and {len(y_pred)}")
    if y_true.shape[1] != y_pred.shape[1]:
        raise ValueError(f"{what}: y_true has {y_true.shape[1]} outputs but y_pred has {y_pred.shape[1]}")
    if isinstance(multioutput, str):
        if multioutput not in _MULTIOUTPUT:
            raise ValueError(f"{what}: multioutput must be one of {_MULTIOUTPUT} or weights, got {multioutput!r}")
    elif np.shape(multioutput) != (y_true.shape[1],) or y_true.shape[1] == 1:
        raise ValueError(f"{what}: multioutput weights need one weight per output of a multi-output target "
                         f"({y_true.shape[1]} outputs), got {multioutput!r}")
    return y_true, y_pred, sample_weights(sample_weight, len(y_true), what)


def _combine(per_output, multioutput, variance=None):
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        if multioutput == "variance_weighted" and variance is not None and np.any(variance != 0):
            return float(np.average(per_output, weights=variance))
        return float(np.mean(per_output))
    return float(np.average(per_output, weights=np.asarray(multioutput, np.float64)))


def mean_absolute_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """The (weighted) mean of |y_true - y_pred| over samples, then over outputs.

    Args:
        y_true: targets, (n,) or (n, outputs).
        y_pred: predictions shaped like y_true.
        sample_weight: optional weight of each sample.
        multioutput: 'uniform_average' (mean over outputs), 'raw_values' (one value per output) or an
            array of weights of the outputs.

    Returns:
        A float, or an array per output with multioutput='raw_values'.
    """
    y_true, y_pred, weights = _regression_targets(y_true, y_pred, sample_weight, multioutput, "mean_absolute_error")
    return _combine(np.average(np.abs(y_pred - y_true), axis=0, weights=weights), multioutput)


def mean_squared_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """The (weighted) mean of (y_true - y_pred)² over samples, then over outputs.

    Args:
        y_true: targets, (n,) or (n, outputs).
        y_pred: predictions shaped like y_true.
        sample_weight: optional weight of each sample.
        multioutput: 'uniform_average', 'raw_values' or an array of weights of the outputs.

    Returns:
        A float, or an array per output with multioutput='raw_values'.
    """
    y_true, y_pred, weights = _regression_targets(y_true, y_pred, sample_weight, multioutput, "mean_squared_error")
    return _combine(np.average((y_true - y_pred) ** 2, axis=0, weights=weights), multioutput)


def r2_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", force_finite=True):
    """The coefficient of determination, 1 - sum w (y - ŷ)² / sum w (y - mean_w(y))², per output.

    Args:
        y_true: targets, (n,) or (n, outputs).
        y_pred: predictions shaped like y_true.
        sample_weight: optional weight of each sample.
        multioutput: 'uniform_average', 'raw_values', 'variance_weighted' (outputs weighted by the
            variance of y_true) or an array of weights of the outputs.
        force_finite: for a constant y_true, give 1.0 for a perfect prediction and 0.0 otherwise instead
            of NaN and -inf.

    Returns:
        A float, or an array per output with multioutput='raw_values'; NaN (with a warning) for fewer
        than two samples.
    """
    y_true, y_pred, weights = _regression_targets(y_true, y_pred, sample_weight, multioutput, "r2_score")
    if len(y_true) < 2:
        warn_undefined("R^2 score is not well-defined with less than two samples.")
        return float("nan")
    w = 1.0 if weights is None else weights[:, None]
    residual = np.sum(w * (y_true - y_pred) ** 2, axis=0)
    spread = np.sum(w * (y_true - np.average(y_true, axis=0, weights=weights)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = 1 - residual / spread
    if force_finite:
        scores = np.where(spread != 0, scores, np.where(residual != 0, 0.0, 1.0))
    return _combine(scores, multioutput, variance=spread)
