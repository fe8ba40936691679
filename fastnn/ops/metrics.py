"""Accuracy counts on fastnn's C kernels: the weighted hits and total weight of one batch."""
import numpy as np

from .. import _C
from .._C import is_f32, is_i64
from .._shapes import row_labels, row_weights, same_rank
from ._convert import as_float32_operand

__all__ = ["ACCURACY_KINDS", "accuracy_counts"]

_I64 = np.dtype(np.int64)
ACCURACY_KINDS = tuple(_C.ACCURACY_KINDS)
_ACCURACY_CODES = _C.ACCURACY_KINDS
_SPARSE_ACCURACY = {_ACCURACY_CODES["sparse_categorical"], _ACCURACY_CODES["sparse_top_k"]}


def accuracy_counts(kind, y_true, y_pred, sample_weight=None, threshold=0.5, k=1):
    """The weighted hits and total weight of one batch for an accuracy metric, in one pass.

    Args:
        kind: one of ACCURACY_KINDS: 'binary' (the fraction of a sample's values where
            y_true == (y_pred > threshold)), 'categorical' (argmax y_true == argmax y_pred), 'sparse_categorical'
            (label == argmax y_pred), 'top_k' / 'sparse_top_k' (fewer than k scores exceed the target
            class's; ties count as in).
        y_true: targets of y_pred's shape (a trailing axis of size 1 may be missing or extra, as Keras
            allows; a 1-D pair holds one value per sample), or for the sparse kinds integer labels of
            shape y_pred.shape[:-1] (or with a trailing 1).
        y_pred: (B, ..., C) predictions.
        sample_weight: None, or one weight per sample.
        threshold: the decision threshold of 'binary'.
        k: how many top scores count for the top-k kinds.

    Returns:
        (hits, total) floats: sum of w * hit and sum of w (the number of samples when unweighted),
        summed in sample order in float64.

    Raises:
        ValueError: a sparse label outside [0, classes), as the sparse loss refuses it (Keras's metrics
            would count it as a miss and hide the bad data).
    """
    code = _ACCURACY_CODES.get(kind) if type(kind) is str else None
    if code is None:
        raise ValueError(f"accuracy_counts: unknown kind {kind!r}; expected one of {', '.join(ACCURACY_KINDS)}")
    sparse = code in _SPARSE_ACCURACY
    if is_f32(y_pred) and y_pred.ndim >= 2 and (sample_weight is None or is_f32(sample_weight)
                                           and sample_weight.shape == y_pred.shape[:-1]) and (
            is_i64(y_true) and y_true.shape == y_pred.shape[:-1] if sparse else
            is_f32(y_true) and y_true.shape == y_pred.shape):
        return _C.accuracy_counts(code, y_true, y_pred, sample_weight, threshold, k)
    what = "accuracy_counts"
    if sparse:
        y_pred = as_float32_operand(y_pred, f"{what}: y_pred")
        if y_pred.ndim == 0:
            raise ValueError(f"{what}: y_pred must be at least 1-D, got a scalar")
        labels = np.asarray(y_true)
        if labels.dtype.kind not in "biuf":
            raise TypeError(f"{what}: labels must be integer class indices, got dtype {labels.dtype}")
        y_true = row_labels(labels.astype(_I64), y_pred.shape[:-1], what)  # Keras casts float labels
    else:
        y_true, y_pred = same_rank(as_float32_operand(y_true, f"{what}: y_true"),
                                   as_float32_operand(y_pred, f"{what}: y_pred"))
        y_true, y_pred = np.ascontiguousarray(y_true), np.ascontiguousarray(y_pred)
    if sample_weight is not None:
        sample_weight = row_weights(sample_weight, y_pred.shape[:-1], what)
    return _C.accuracy_counts(code, y_true, y_pred, sample_weight, threshold, k)
