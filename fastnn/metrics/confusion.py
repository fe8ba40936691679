"""Threshold metrics from confusion counts: Precision, Recall and AUC (NumPy, float64 counters)."""
import numpy as np

from .base import _broadcast_weights, _same_rank, Metric

__all__ = ["Precision", "Recall", "AUC"]

# Each threshold costs a few float64 counters; a config (or a hostile model file) asking for more is refused
# before anything is allocated (AUC(num_thresholds=10**8) would take 3.5 GB).
MAX_THRESHOLDS = 100_000


def _confusion_counts(y_true, y_pred, sample_weight, thresholds):
    """Weighted (tp, fp, fn) per threshold (sorted ascending, float32), a prediction being positive when
    it is > the threshold; also the weighted totals of positives and negatives.

    One searchsorted and two bincounts instead of a (values x thresholds) comparison matrix.
    """
    labels = np.asarray(y_true) != 0
    preds = np.asarray(y_pred, dtype=np.float32)
    weights = np.ones(preds.shape) if sample_weight is None else _broadcast_weights(sample_weight, preds.shape)
    # bucket = how many thresholds lie strictly below the prediction = at how many it is positive
    bucket = np.searchsorted(thresholds, preds.reshape(-1), side="left")
    weights, labels = weights.reshape(-1), labels.reshape(-1)
    size = thresholds.size + 1
    pos = np.bincount(bucket, weights=weights * labels, minlength=size)
    neg = np.bincount(bucket, weights=weights * ~labels, minlength=size)
    pos_above = np.cumsum(pos[::-1])[::-1]  # pos_above[i]: weight of positives in buckets >= i
    neg_above = np.cumsum(neg[::-1])[::-1]
    tp, fp = pos_above[1:], neg_above[1:]
    return tp, fp, pos_above[0] - tp, neg_above[0] - fp


def _check_thresholds(thresholds, what):
    if np.size(thresholds) > MAX_THRESHOLDS:
        raise ValueError(f"{what}: at most {MAX_THRESHOLDS} thresholds are supported, got {np.size(thresholds)}")
    values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if values.ndim != 1 or values.size == 0 or np.any((values < 0) | (values > 1)):
        raise ValueError(f"{what}: thresholds must be numbers in [0, 1], got {thresholds!r}")
    return values


class _ConfusionMetric(Metric):
    """Shared by Precision and Recall: thresholds, top_k, class_id and the tp/fp/fn counters."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        kind = type(self).__name__
        self.thresholds = thresholds
        values = _check_thresholds(0.5 if thresholds is None else thresholds, kind)
        self._order = np.argsort(values, kind="stable")
        self._sorted = values[self._order].astype(np.float32)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{kind}: top_k must be a positive int or None, got {top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0):
            raise ValueError(f"{kind}: class_id must be a non-negative int or None, got {class_id!r}")
        self.top_k, self.class_id = top_k, class_id
        super().__init__(name, dtype)

    def reset_state(self):
        zeros = np.zeros(self._sorted.size)
        self.true_positives, self.false_positives, self.false_negatives = zeros, zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _same_rank(y_true, y_pred)
        y_pred = y_pred.astype(np.float32)
        if sample_weight is not None:
            sample_weight = _broadcast_weights(sample_weight, y_pred.shape)
        if self.top_k is not None:  # predictions outside the top k never count as positive
            keep = np.argpartition(-y_pred, min(self.top_k, y_pred.shape[-1]) - 1, axis=-1)[..., :self.top_k]
            filtered = np.full_like(y_pred, -np.inf)
            np.put_along_axis(filtered, keep, np.take_along_axis(y_pred, keep, axis=-1), axis=-1)
            y_pred = filtered
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
            if sample_weight is not None:
                sample_weight = sample_weight[..., self.class_id]
        tp, fp, fn, _ = _confusion_counts(y_true, y_pred, sample_weight, self._sorted)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def result(self):
        numerator = self.true_positives
        denominator = numerator + self._other_count()
        ratios = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
        ratios = ratios[np.argsort(self._order)]  # back to the order thresholds were given in
        return float(ratios[0]) if np.ndim(self.thresholds) == 0 else [float(r) for r in ratios]

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """tp / (tp + fp), predictions positive when > threshold (0.5 by default).

    Args:
        thresholds: a float or a list of floats in [0, 1] (result() is then a list), None for 0.5.
        top_k: only the k highest predictions of each sample may count as positive.
        class_id: only this class (last axis index) is counted.
    """

    _default_name = "precision"

    def _other_count(self):
        return self.false_positives


class Recall(_ConfusionMetric):
    """tp / (tp + fn); arguments as Precision."""

    _default_name = "recall"

    def _other_count(self):
        return self.false_negatives


_CURVES = ("ROC", "PR")
_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Area under the ROC or PR curve, from counts at fixed thresholds as Keras does.

    With num_thresholds thresholds spread evenly over [0, 1] (plus -1e-7 and 1 + 1e-7 at the ends), the
    curve is sampled at those points and summed by the trapezoid rule ('interpolation', the default) or
    by lower/upper rectangles. This is an approximation of the exact (rank-based) AUC whose error
    shrinks with num_thresholds (about 1e-3 at 200 for smooth score distributions); PR interpolation
    uses the Davis & Goadrich precision interpolation.

    Args:
        num_thresholds: at least 2 (used when thresholds is None).
        curve: 'ROC' or 'PR'.
        summation_method: 'interpolation', 'minoring' or 'majoring'.
        name, dtype: as Metric.
        thresholds: explicit thresholds in [0, 1] instead of the even spread.
        multi_label, num_labels, label_weights: only False/None/None are supported.
        from_logits: y_pred holds logits (a sigmoid is applied first).
    """

    _default_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if multi_label or num_labels is not None or label_weights is not None:
            raise ValueError("AUC: multi_label, num_labels and label_weights are not supported")
        curve = str(curve).upper()
        if curve not in _CURVES:
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if summation_method not in _SUMMATIONS:
            raise ValueError(f"AUC: summation_method must be one of {', '.join(_SUMMATIONS)}, "
                             f"got {summation_method!r}")
        if thresholds is None:
            if (isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int)
                    or not 2 <= num_thresholds <= MAX_THRESHOLDS):
                raise ValueError(f"AUC: num_thresholds must be an int in [2, {MAX_THRESHOLDS}], "
                                 f"got {num_thresholds!r}")
            inner = np.arange(1, num_thresholds - 1) / (num_thresholds - 1)
        else:
            inner = np.sort(_check_thresholds(thresholds, "AUC"))
            num_thresholds = inner.size + 2
        self._thresholds = np.concatenate(([-1e-7], inner, [1.0 + 1e-7])).astype(np.float32)
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve, summation_method
        self.thresholds = None if thresholds is None else [float(t) for t in inner]
        self.from_logits = bool(from_logits)
        super().__init__(name, dtype)

    def reset_state(self):
        zeros = np.zeros(self.num_thresholds)
        self.true_positives, self.false_positives = zeros, zeros.copy()
        self.false_negatives, self.true_negatives = zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _same_rank(y_true, y_pred)
        y_pred = y_pred.astype(np.float32)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        tp, fp, fn, tn = _confusion_counts(y_true, y_pred, sample_weight, self._thresholds)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.true_negatives += tn

    def result(self):
        tp, fp, fn, tn = self.true_positives, self.false_positives, self.false_negatives, self.true_negatives
        recall = _ratio(tp, tp + fn)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr_auc()
        x, y = (_ratio(fp, fp + tn), recall) if self.curve == "ROC" else (recall, _ratio(tp, tp + fp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def _interpolated_pr_auc(self):
        """Precision varies hyperbolically between thresholds (Davis & Goadrich 2006); integrate that exactly."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        predicted = tp + fp
        d_tp, d_predicted = tp[:-1] - tp[1:], predicted[:-1] - predicted[1:]
        slope = _ratio(d_tp, np.maximum(d_predicted, 0))
        intercept = tp[1:] - slope * predicted[1:]
        both = (predicted[:-1] > 0) & (predicted[1:] > 0)
        log_ratio = np.log(np.where(both, _ratio(predicted[:-1], np.maximum(predicted[1:], 0)), 1.0))
        return float(np.sum(_ratio(slope * (d_tp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "thresholds": self.thresholds,
                "multi_label": False, "num_labels": None, "label_weights": None, "from_logits": self.from_logits}


def _ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64),
                     where=denominator != 0)
