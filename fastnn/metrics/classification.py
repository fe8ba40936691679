"""Classification scores over whole label arrays, returning the same numbers as scikit-learn's functions.

Every count is one bincount over label indices (no loop over samples); labels may be of any sortable type.
"""
import warnings

import numpy as np

from ._targets import as_1d, class_targets, encode, sample_weights, warn_undefined

__all__ = ["confusion_matrix", "precision_recall_fscore_support", "log_loss"]

_NORMALIZE = (None, "true", "pred", "all")
_AVERAGES = (None, "binary", "micro", "macro", "weighted")


def _given_labels(labels, what):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{what}: labels must be a non-empty 1-D list of labels, got {labels!r}")
    return labels


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """Counts of each (true label, predicted label) pair: rows are true labels, columns predicted ones.

    Args:
        y_true: true labels, shape (n,) (ints, strings, ...).
        y_pred: predicted labels, shape (n,).
        labels: the labels to count, in the order of the rows and columns; samples whose true or predicted
            label is not among them are left out. Default: the sorted labels present in y_true or y_pred.
        sample_weight: optional weight of each sample.
        normalize: None (counts), 'true' (each row sums to 1), 'pred' (each column) or 'all' (the whole
            matrix); an all-zero row or column stays zero.

    Returns:
        (n_labels, n_labels) array: int64 counts, or float64 when weighted or normalized.

    Example:
        >>> confusion_matrix(["cat", "dog", "dog"], ["cat", "cat", "dog"])
        array([[1, 0],
               [1, 1]])
    """
    what = "confusion_matrix"
    if normalize not in _NORMALIZE:
        raise ValueError(f"{what}: normalize must be one of {_NORMALIZE}, got {normalize!r}")
    y_true, y_pred, present = class_targets(y_true, y_pred, what)
    weights = sample_weights(sample_weight, len(y_true), what)
    if labels is None:
        labels = present
    else:
        labels = _given_labels(labels, what)
        if y_true.size and not np.isin(y_true, labels).any():
            raise ValueError(f"{what}: at least one of the labels must occur in y_true")
    n_labels = len(labels)
    true_index, pred_index = encode(y_true, labels), encode(y_pred, labels)
    kept = (true_index >= 0) & (pred_index >= 0)
    cells = true_index[kept] * n_labels + pred_index[kept]
    counts = np.bincount(cells, weights=None if weights is None else weights[kept], minlength=n_labels * n_labels)
    matrix = counts.reshape(n_labels, n_labels)
    if normalize is None:
        return matrix
    totals = {"true": matrix.sum(axis=1, keepdims=True), "pred": matrix.sum(axis=0, keepdims=True),
              "all": matrix.sum()}[normalize]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(matrix / totals)


def _per_label_counts(y_true, y_pred, labels, weights):
    """Weighted true positives, predicted and true totals of each label (int64 when unweighted)."""
    true_index, pred_index = encode(y_true, labels), encode(y_pred, labels)
    n = len(labels)

    def count(index, mask):
        return np.bincount(index[mask], weights=None if weights is None else weights[mask], minlength=n)

    tp = count(true_index, (true_index >= 0) & (true_index == pred_index))
    return tp, count(pred_index, pred_index >= 0), count(true_index, true_index >= 0)


def _zero_division_value(zero_division, what):
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if isinstance(zero_division, (int, float, np.number)) and not isinstance(zero_division, bool):
        if zero_division in (0, 1):
            return float(zero_division)
        if np.isnan(zero_division):
            return np.nan
    raise ValueError(f"{what}: zero_division must be 'warn', 0.0, 1.0 or np.nan, got {zero_division!r}")


def _divide(numerator, denominator, zero_division, metric, modifier):
    """numerator / denominator, with zero_division where the denominator is 0 (and a warning for 'warn')."""
    zero = denominator == 0
    result = np.asarray(numerator, np.float64) / np.where(zero, 1, denominator)
    if zero.any():
        result[zero] = _zero_division_value(zero_division, "precision_recall_fscore_support")
        if isinstance(zero_division, str):
            where = "due to" if result.size == 1 else "in labels with"
            warn_undefined(f"{metric} is ill-defined and being set to 0.0 {where} no {modifier} samples. "
                           f"Use `zero_division` parameter to control this behavior.")
    return result


def _nan_average(values, weights):
    """Weighted mean ignoring NaN (a plain mean when every remaining weight is 0), NaN when nothing is left."""
    keep = ~np.isnan(values)
    if not keep.any():
        return np.nan
    if weights is None or not np.any(weights[keep]):
        return float(np.mean(values[keep]))
    return float(np.average(values[keep], weights=weights[keep]))


def _binary_labels(present, pos_label, what):
    if len(present) > 2:
        raise ValueError(f"{what}: the target is multiclass but average='binary'; choose another average "
                         f"setting, one of [None, 'micro', 'macro', 'weighted']")
    if len(present) == 2 and pos_label not in present:
        raise ValueError(f"{what}: pos_label={pos_label!r} is not a valid label; it should be one of "
                         f"{list(present)}")
    return np.asarray([pos_label])


def precision_recall_fscore_support(y_true, y_pred, *, beta=1.0, labels=None, pos_label=1, average=None,
                                    sample_weight=None, zero_division="warn"):
    """Precision, recall, F-beta score and support of each label, or their average.

    precision = tp / (tp + fp), recall = tp / (tp + fn), F-beta = (1 + beta²) tp / ((1 + beta²) tp +
    beta² fn + fp), support = the (weighted) number of true samples of the label.

    Args:
        y_true: true labels, shape (n,).
        y_pred: predicted labels, shape (n,).
        beta: weight of recall against precision in the F score (>= 0; 1 gives F1).
        labels: the labels to score (and their order when average is None). Default: the sorted labels
            present in y_true or y_pred.
        pos_label: the positive label when average='binary'.
        average: None (one score per label), 'binary' (the scores of pos_label; the target must have at
            most two labels), 'micro' (from the counts summed over labels), 'macro' (the unweighted mean
            over labels) or 'weighted' (the mean weighted by support).
        sample_weight: optional weight of each sample.
        zero_division: the value of a score whose denominator is 0: 'warn' (0.0 and an
            UndefinedMetricWarning), 0.0, 1.0 or np.nan (left out of averages).

    Returns:
        (precision, recall, fbeta, support): float64 arrays of one value per label when average is None,
        otherwise three floats and None.

    Example:
        >>> precision_recall_fscore_support([0, 1, 1, 1], [0, 1, 0, 1], average="binary")
        (1.0, 0.6666666666666666, 0.8, None)
    """
    what = "precision_recall_fscore_support"
    if average not in _AVERAGES:
        raise ValueError(f"{what}: average must be one of {_AVERAGES}, got {average!r}")
    _zero_division_value(zero_division, what)
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.number)) or not beta >= 0:
        raise ValueError(f"{what}: beta must be a number >= 0, got {beta!r}")
    y_true, y_pred, present = class_targets(y_true, y_pred, what)
    weights = sample_weights(sample_weight, len(y_true), what)
    if average == "binary":
        labels = _binary_labels(present, pos_label, what)
    elif labels is None:
        labels = present
    else:
        labels = _given_labels(labels, what)
    tp, predicted, true = _per_label_counts(y_true, y_pred, labels, weights)
    if average == "micro":
        tp, predicted, true = tp.sum(keepdims=True), predicted.sum(keepdims=True), true.sum(keepdims=True)
    precision = _divide(tp, predicted, zero_division, "Precision", "predicted")
    recall = _divide(tp, true, zero_division, "Recall", "true")
    if np.isposinf(beta):
        fscore = recall
    elif beta == 0:
        fscore = precision
    else:
        beta2 = float(beta) ** 2
        fscore = _divide((1 + beta2) * tp.astype(np.float64), beta2 * true + predicted.astype(np.float64),
                         zero_division, "F-score", "true nor predicted")
    if average is None:
        return precision, recall, fscore, true
    support_weights = true if average == "weighted" else None
    return (_nan_average(precision, support_weights), _nan_average(recall, support_weights),
            _nan_average(fscore, support_weights), None)


def _probability_columns(y_proba, n_classes, labels_given, what):
    proba = np.asarray(y_proba)
    if proba.dtype.kind not in "biuf":
        raise TypeError(f"{what}: y_proba must hold numbers, got dtype {proba.dtype}")
    if proba.dtype not in (np.float32, np.float64):
        proba = proba.astype(np.float64)
    if proba.ndim == 1:
        proba = proba[:, None]
    if proba.ndim != 2:
        raise ValueError(f"{what}: y_proba must be (n,) or (n, classes), got shape {proba.shape}")
    if proba.shape[1] == 1:
        proba = np.concatenate([1 - proba, proba], axis=1)
    if proba.shape[1] != n_classes:
        source = "labels" if labels_given else "y_true (pass labels= to name every class)"
        raise ValueError(f"{what}: y_proba has {proba.shape[1]} columns but {source} has {n_classes} classes")
    return proba


def log_loss(y_true, y_proba, *, normalize=True, sample_weight=None, labels=None):
    """Cross-entropy of predicted class probabilities: the mean (or sum) of -log p(true class).

    Probabilities are clipped to [eps, 1 - eps] (eps of their float type), as scikit-learn does.

    Args:
        y_true: true labels, shape (n,).
        y_proba: probabilities, (n, classes) with columns in the sorted order of the classes, or (n,) the
            probability of the larger of two classes.
        normalize: True for the (weighted) mean over samples, False for the (weighted) sum.
        sample_weight: optional weight of each sample.
        labels: every class, when y_true does not contain them all.

    Returns:
        The loss as a float.
    """
    what = "log_loss"
    y_true = as_1d(y_true, "y_true", what)
    weights = sample_weights(sample_weight, len(y_true), what)
    classes = np.unique(y_true if labels is None else np.asarray(labels))
    if labels is not None and not np.isin(y_true, classes).all():
        raise ValueError(f"{what}: y_true contains values {sorted(set(np.setdiff1d(y_true, classes)))} "
                         f"not among the labels {list(classes)}")
    if len(classes) < 2:
        raise ValueError(f"{what}: need at least two classes, got {list(classes)}; pass labels= to name them all")
    proba = _probability_columns(y_proba, len(classes), labels is not None, what)
    if len(proba) != len(y_true):
        raise ValueError(f"{what}: y_true and y_proba need the same number of samples, got {len(y_true)} "
                         f"and {len(proba)}")
    if proba.size and (proba.max() > 1 or proba.min() < 0):
        raise ValueError(f"{what}: y_proba holds values outside [0, 1]")
    eps = np.finfo(proba.dtype).eps
    if not np.allclose(proba.sum(axis=1), 1, rtol=np.sqrt(eps), atol=0):
        warnings.warn("log_loss: the rows of y_proba do not sum to one; pass probabilities", UserWarning,
                      stacklevel=2)
    picked = proba[np.arange(len(proba)), encode(y_true, classes)]
    losses = -np.log(np.clip(picked, eps, 1 - eps))
    if normalize:
        return float(np.average(losses, weights=weights))
    return float(np.sum(losses if weights is None else losses * weights))
