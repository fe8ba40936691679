"""Checking the labels, scores and weights given to the metric functions, as scikit-learn checks them."""
import warnings

import numpy as np

__all__ = ["UndefinedMetricWarning"]


class UndefinedMetricWarning(UserWarning):
    """A score is undefined for the data given (a division by zero) and was replaced by a stated value."""


def as_1d(y, name, what):
    """y as a 1-D array; a column (n, 1) counts as (n,), anything wider is refused."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{what}: {name} must be 1-D (one value per sample), got shape {y.shape}")
    return y


def _is_text(y):
    return y.dtype.kind in "US" or (y.dtype.kind == "O" and y.size > 0 and isinstance(y.flat[0], str))


def _check_class_labels(y, name, what):
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError(f"{what}: {name} contains NaN")
        if np.any(y != np.round(y)):
            raise ValueError(f"{what}: {name} holds continuous values; classification metrics need class labels")
    elif y.dtype.kind == "c":
        raise ValueError(f"{what}: {name} holds complex values; classification metrics need class labels")


def class_targets(y_true, y_pred, what):
    """Two label arrays checked and made 1-D, and the sorted labels present in either.

    Labels may be of any sortable type (ints, strings, bools), but not a mix of strings and numbers.
    """
    y_true, y_pred = as_1d(y_true, "y_true", what), as_1d(y_pred, "y_pred", what)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{what}: y_true and y_pred need the same number of samples, got {len(y_true)} "
                         f"and {len(y_pred)}")
    if _is_text(y_true) != _is_text(y_pred) and y_true.size and y_pred.size:
        raise ValueError(f"{what}: y_true and y_pred mix string and number labels "
                         f"({y_true.dtype} and {y_pred.dtype})")
    _check_class_labels(y_true, "y_true", what)
    _check_class_labels(y_pred, "y_pred", what)
    try:
        present = np.unique(np.concatenate([y_true, y_pred]))
    except TypeError as exc:
        raise ValueError(f"{what}: the labels cannot be sorted ({exc})") from None
    return y_true, y_pred, present


def encode(y, labels):
    """The index of each value of y in labels (in the order of labels), -1 where it is not among them."""
    if len(labels) == 0:
        return np.full(len(y), -1, np.int64)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    position = np.minimum(np.searchsorted(sorted_labels, y), len(labels) - 1)
    return np.where(sorted_labels[position] == y, order[position], -1)


def sample_weights(sample_weight, n, what):
    """None, or the weights as a float64 (n,) array of finite numbers."""
    if sample_weight is None:
        return None
    weights = as_1d(sample_weight, "sample_weight", what)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"{what}: sample_weight must hold numbers, got dtype {weights.dtype}")
    if len(weights) != n:
        raise ValueError(f"{what}: sample_weight needs one weight per sample ({n}), got {len(weights)}")
    weights = weights.astype(np.float64)
    if not np.isfinite(weights).all():
        raise ValueError(f"{what}: sample_weight contains NaN or infinity")
    return weights


def warn_undefined(message):
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)
