"""Accuracy metrics, counted by one C pass per batch (fastnn.ops.accuracy_counts).

An update is one call of the kernel and two additions when the inputs are already float32 (or int64
labels) and unweighted; sample weights are first broadcast to one per sample by Keras's rules.
"""
import numpy as np

from ..ops.nn import accuracy_counts
from .base import _broadcast_weights, _same_rank, Mean

__all__ = ["BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "AutoAccuracy"]


class _Accuracy(Mean):
    """A Mean of per-sample hits: total is the weighted hits, count the total weight."""

    _kind = "binary"  # the accuracy_counts kind
    _sparse = False   # whether y_true holds integer labels
    _threshold = 0.5
    _k = 1

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            hits, count = accuracy_counts(self._kind, y_true, y_pred, None, self._threshold, self._k)
        else:
            hits, count = self._counts(y_true, y_pred, sample_weight)
        self.total += hits
        self.count += count

    def _counts(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            if self._sparse:
                y_pred = np.asarray(y_pred)
            else:
                y_true, y_pred = _same_rank(y_true, y_pred)
            weights = _broadcast_weights(sample_weight, y_pred.shape[:-1])
            sample_weight = np.ascontiguousarray(weights, dtype=np.float32)
        return accuracy_counts(self._kind, y_true, y_pred, sample_weight, self._threshold, self._k)


class BinaryAccuracy(_Accuracy):
    """How often y_true equals (y_pred > threshold), averaged over the last axis per sample.

    Args:
        threshold: the decision threshold on y_pred.
    """

    _default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = self._threshold = float(threshold)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(_Accuracy):
    """How often argmax(y_pred) equals argmax(y_true) (one-hot targets)."""

    _default_name = "categorical_accuracy"
    _kind = "categorical"


class SparseCategoricalAccuracy(_Accuracy):
    """How often argmax(y_pred) equals the integer label y_true ((B,) or (B, 1))."""

    _default_name = "sparse_categorical_accuracy"
    _kind = "sparse_categorical"
    _sparse = True


class TopKCategoricalAccuracy(_Accuracy):
    """How often the one-hot target class is among the k highest predictions (ties at the boundary count
    as in, as TF).

    Args:
        k: how many top predictions count.
    """

    _default_name = "top_k_categorical_accuracy"
    _kind = "top_k"

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name, dtype)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{type(self).__name__}: k must be a positive int, got {k!r}")
        self.k = self._k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer label is among the k highest predictions. Args: k."""

    _default_name = "sparse_top_k_categorical_accuracy"
    _kind = "sparse_top_k"
    _sparse = True


class AutoAccuracy(_Accuracy):
    """'accuracy' whose kind is chosen at the first update from the shapes, by Keras 3's rules.

    metrics.get('accuracy') returns this when neither the loss nor the output shape decides.

    Binary when y_pred's last axis is 1; sparse categorical when y_true has lower rank than y_pred or
    a last axis of 1; categorical otherwise.
    """

    _default_name = "accuracy"

    def __init__(self, name=None, dtype=None):
        self._resolved = None  # the concrete accuracy, kept across reset_state
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._resolved is None:
            true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
            if pred_shape[-1:] == (1,) or len(pred_shape) == 1:
                self._resolved = BinaryAccuracy()
            elif len(true_shape) < len(pred_shape) or true_shape[-1:] == (1,):
                self._resolved = SparseCategoricalAccuracy()
            else:
                self._resolved = CategoricalAccuracy()
        hits, count = self._resolved._counts(y_true, y_pred, sample_weight)
        self.total += hits
        self.count += count
