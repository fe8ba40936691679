"""Keras-style stateful metrics: update_state(y_true, y_pred, sample_weight=None), result(), reset_state().

These are plain NumPy (not hot kernels): a few vectorised operations per batch, state kept in float64.
"""
import numpy as np

from . import losses as _losses
from ._registry import Registry as _Registry
from ._registry import canonical as _canonical

__all__ = ["Metric", "Mean", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanAbsoluteError", "MeanSquaredError",
           "RootMeanSquaredError", "AutoAccuracy", "Precision", "Recall", "AUC", "get", "serialize", "deserialize"]


def _same_rank(y_true, y_pred):
    """Keras's squeeze-or-expand: (B,) against (B, 1) become (B, 1) both; (B, T) against (B, T, 1) lose the 1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_pred, y_true = (y_pred[:, None], y_true) if y_pred.ndim == 1 else (y_pred, y_true[..., 0])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true, y_pred = (y_true[:, None], y_pred) if y_true.ndim == 1 else (y_true, y_pred[..., 0])
    if y_pred.ndim == 1 and y_true.ndim == 1:  # one value per sample
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} and y_pred {y_pred.shape}; they must match")
    return y_true, y_pred


def _broadcast_weights(sample_weight, shape):
    """sample_weight as float64 broadcast to shape: trailing size-1 axes dropped, missing ones added."""
    weights = np.asarray(sample_weight, dtype=np.float64)
    while weights.ndim > len(shape) and weights.shape[-1] == 1:
        weights = weights[..., 0]
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    try:
        return np.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not broadcast to {shape}") from None


def _labels(y_true, num_rows_shape):
    """Integer labels of shape num_rows_shape from (B,) or (B, 1) y_true."""
    labels = np.asarray(y_true)
    if labels.ndim == len(num_rows_shape) + 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != num_rows_shape:
        raise ValueError(f"y_true has shape {np.shape(y_true)}: expected labels of shape {num_rows_shape}")
    return labels.astype(np.int64)


class Metric:
    """Base of the metrics: name, dtype, config; subclasses keep state and define update_state/result.

    Args:
        name: the name in logs.
        dtype: None or 'float32'.
    """

    _default_name = "metric"

    def __init__(self, name=None, dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 is supported, got dtype={dtype!r}")
        self.name = self._default_name if name is None else str(name)
        self.dtype = "float32"
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class Mean(Metric):
    """The weighted mean of every value passed to update_state(values, sample_weight=None)."""

    _default_name = "mean"

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            weights = _broadcast_weights(sample_weight, values.shape)
            self.total += float((values * weights).sum())
            self.count += float(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class _SampleMean(Mean):
    """A Mean of per-sample values computed from (y_true, y_pred) by _values."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._values(y_true, y_pred), sample_weight)

    def _values(self, y_true, y_pred):
        raise NotImplementedError


class BinaryAccuracy(_SampleMean):
    """How often y_true equals (y_pred > threshold), averaged over the last axis per sample.

    Args:
        threshold: the decision threshold on y_pred.
    """

    _default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = float(threshold)

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return (y_true == (y_pred > self.threshold)).mean(axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(_SampleMean):
    """How often argmax(y_pred) equals argmax(y_true) (one-hot targets)."""

    _default_name = "categorical_accuracy"

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)


class SparseCategoricalAccuracy(_SampleMean):
    """How often argmax(y_pred) equals the integer label y_true ((B,) or (B, 1))."""

    _default_name = "sparse_categorical_accuracy"

    def _values(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        return _labels(y_true, y_pred.shape[:-1]) == np.argmax(y_pred, axis=-1)


def _in_top_k(labels, y_pred, k):
    """Whether each label's score is among the k largest; ties at the boundary count as in (as TF)."""
    target = np.take_along_axis(y_pred, labels[..., None], axis=-1)
    return (y_pred > target).sum(axis=-1) < k


class TopKCategoricalAccuracy(_SampleMean):
    """How often the one-hot target class is among the k highest predictions.

    Args:
        k: how many top predictions count.
    """

    _default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name, dtype)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{type(self).__name__}: k must be a positive int, got {k!r}")
        self.k = k

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return _in_top_k(np.argmax(y_true, axis=-1), y_pred, self.k)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer label is among the k highest predictions. Args: k."""

    _default_name = "sparse_top_k_categorical_accuracy"

    def _values(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        return _in_top_k(_labels(y_true, y_pred.shape[:-1]), y_pred, self.k)


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


class AutoAccuracy(_SampleMean):
    """'accuracy' whose kind is chosen at the first update from the shapes, by Keras 3's rules.

    metrics.get('accuracy') returns this when neither the loss nor the output shape decides.

    Binary when y_pred's last axis is 1; sparse categorical when y_true has lower rank than y_pred or
    a last axis of 1; categorical otherwise.
    """

    _default_name = "accuracy"

    def __init__(self, name=None, dtype=None):
        self._resolved = None  # the concrete accuracy, kept across reset_state
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        if self._resolved is None:
            true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
            if pred_shape[-1:] == (1,) or len(pred_shape) == 1:
                self._resolved = BinaryAccuracy()
            elif len(true_shape) < len(pred_shape) or true_shape[-1:] == (1,):
                self._resolved = SparseCategoricalAccuracy()
            else:
                self._resolved = CategoricalAccuracy()
        return self._resolved._values(y_true, y_pred)


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
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds < 2:
                raise ValueError(f"AUC: num_thresholds must be an int > 1, got {num_thresholds!r}")
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


_registry = _Registry("metric", Metric)
_registry.add(Mean, "mean")
_registry.add(BinaryAccuracy, "binary_accuracy")
_registry.add(CategoricalAccuracy, "categorical_accuracy")
_registry.add(SparseCategoricalAccuracy, "sparse_categorical_accuracy")
_registry.add(TopKCategoricalAccuracy, "top_k_categorical_accuracy")
_registry.add(SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy")
_registry.add(MeanAbsoluteError, "mae", "mean_absolute_error")
_registry.add(MeanSquaredError, "mse", "mean_squared_error")
_registry.add(RootMeanSquaredError, "root_mean_squared_error")
_registry.add(Precision, "precision")
_registry.add(Recall, "recall")
_registry.add(AUC, "auc")
_registry.add(AutoAccuracy)

_ACCURACY_BY_LOSS = {_losses.BinaryCrossentropy: BinaryAccuracy, _losses.CategoricalCrossentropy: CategoricalAccuracy,
                     _losses.SparseCategoricalCrossentropy: SparseCategoricalAccuracy}


def get(identifier, loss=None, output_shape=None):
    """A Metric from a name, an instance or a config dict; 'accuracy'/'acc' resolved as Keras does.

    A metric given by name is named as given ('mae' logs as 'mae', 'accuracy' as 'accuracy').
    'accuracy' becomes binary, categorical or sparse categorical accuracy from the loss (binary, categorical
    or sparse categorical cross-entropy); otherwise binary when the output's last axis is 1; otherwise an
    AutoAccuracy that decides from the shapes of the first batch (Keras 3's rules).

    Args:
        identifier: the metric.
        loss: the model's loss (name, Loss or config), used only for 'accuracy'.
        output_shape: the model's output shape, used only for 'accuracy'.

    Returns:
        A Metric.
    """
    if isinstance(identifier, str) and _canonical(identifier) in ("accuracy", "acc"):
        loss_class = type(_losses.get(loss)) if loss is not None else None
        if loss_class in _ACCURACY_BY_LOSS:
            return _ACCURACY_BY_LOSS[loss_class](name=identifier)
        if output_shape is not None and tuple(output_shape)[-1:] == (1,):
            return BinaryAccuracy(name=identifier)
        return AutoAccuracy(name=identifier)
    if isinstance(identifier, str):
        return _registry.lookup(identifier)(name=identifier)
    return _registry.get(identifier)


def serialize(metric):
    """{'class_name': ..., 'config': ...} for a Metric."""
    return _registry.serialize(metric)


def deserialize(data):
    """Inverse of serialize."""
    return _registry.deserialize(data)
