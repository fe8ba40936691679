"""Threshold curves and the area under the ROC curve, returning the same numbers as scikit-learn's functions.

One sort of the scores gives the true and false positives at every distinct threshold (cumulative sums
read at the last sample of each run of equal scores), so the cost is O(n log n) with no loop over samples.
"""
import numpy as np

from ._targets import as_1d, sample_weights, warn_undefined

__all__ = ["roc_curve", "precision_recall_curve", "roc_auc_score", "auc"]

_AUC_AVERAGES = ("macro", "weighted", "micro", None)


def _positive_label(classes, pos_label, what):
    if pos_label is not None:
        return pos_label
    numeric = classes.dtype.kind in "biuf"
    if not numeric or not set(classes.tolist()) <= {0, 1} and not set(classes.tolist()) <= {-1, 1}:
        raise ValueError(f"{what}: y_true takes the values {list(classes)} and pos_label is not given; "
                         f"use labels {{0, 1}} or {{-1, 1}}, or pass pos_label")
    return 1


def _scores(y_score, n, what):
    scores = as_1d(y_score, "y_score", what)
    if scores.dtype.kind not in "biuf":
        raise TypeError(f"{what}: y_score must hold numbers, got dtype {scores.dtype}")
    if len(scores) != n:
        raise ValueError(f"{what}: y_true and y_score need the same number of samples, got {n} and {len(scores)}")
    if not np.isfinite(scores).all():
        raise ValueError(f"{what}: y_score contains NaN or infinity; scores must be finite to be ranked")
    return scores


def _counts_at_thresholds(y_true, y_score, pos_label, sample_weight, what):
    """Weighted false and true positives when predicting positive for scores >= each distinct score,
    and those scores, in decreasing order."""
    y_true = as_1d(y_true, "y_true", what)
    scores = _scores(y_score, len(y_true), what)
    weights = sample_weights(sample_weight, len(y_true), what)
    classes = np.unique(y_true)
    if len(classes) > 2 and pos_label is None:
        raise ValueError(f"{what}: y_true has {len(classes)} classes; pass pos_label to score one against the rest")
    positive = y_true == _positive_label(classes, pos_label, what)
    if weights is not None:
        kept = weights != 0
        positive, scores, weights = positive[kept], scores[kept], weights[kept]
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order].astype(np.float64)
    run_ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    if weights is None:
        tps = np.cumsum(positive)[run_ends]
        fps = 1 + run_ends - tps
    else:
        weights = weights[order]
        tps = np.cumsum(positive * weights)[run_ends]
        fps = np.cumsum((1 - positive) * weights)[run_ends]
    return fps, tps, scores[run_ends]


def roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True):
    """The receiver operating characteristic: false and true positive rates at every threshold.

    Args:
        y_true: true binary labels, shape (n,); {0, 1} or {-1, 1} unless pos_label is given.
        y_score: scores, higher meaning more likely positive (probabilities or logits), shape (n,).
        pos_label: the positive label.
        sample_weight: optional weight of each sample.
        drop_intermediate: leave out thresholds on straight segments of the curve.

    Returns:
        (fpr, tpr, thresholds): increasing rates and decreasing thresholds; the first threshold is inf,
        where nothing is predicted positive. A rate whose class has no samples is NaN (with a warning).

    Example:
        >>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    """
    fps, tps, thresholds = _counts_at_thresholds(y_true, y_score, pos_label, sample_weight, "roc_curve")
    if drop_intermediate and len(fps) > 2:
        corners = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corners], tps[corners], thresholds[corners]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds.astype(np.float64)]
    return _rate(fps, "No negative samples in y_true"), _rate(tps, "No positive samples in y_true"), thresholds


def _rate(counts, undefined_because):
    if counts[-1] <= 0:
        warn_undefined(f"{undefined_because}: that rate is undefined (NaN)")
        return np.full(counts.shape, np.nan)
    return counts / counts[-1]


def precision_recall_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=False):
    """Precision and recall at every threshold.

    Args:
        y_true: true binary labels, shape (n,); {0, 1} or {-1, 1} unless pos_label is given.
        y_score: scores, higher meaning more likely positive, shape (n,).
        pos_label: the positive label.
        sample_weight: optional weight of each sample.
        drop_intermediate: leave out thresholds where recall does not change.

    Returns:
        (precision, recall, thresholds): one point per increasing threshold, then the point
        (precision 1, recall 0) without a threshold.

    Example:
        >>> precision, recall, thresholds = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    """
    fps, tps, thresholds = _counts_at_thresholds(y_true, y_score, pos_label, sample_weight,
                                                 "precision_recall_curve")
    if drop_intermediate and len(fps) > 2:
        corners = np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        fps, tps, thresholds = fps[corners], tps[corners], thresholds[corners]
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    if tps[-1] == 0:
        warn_undefined("No positive class found in y_true, recall is set to one for all thresholds")
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def auc(x, y):
    """The area under a curve through the points (x, y) by the trapezoidal rule; x must be monotonic.

    Example:
        >>> fpr, tpr, _ = roc_curve(y_true, scores)
        >>> auc(fpr, tpr)
    """
    x, y = as_1d(x, "x", "auc").astype(np.float64), as_1d(y, "y", "auc").astype(np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"auc: x and y need the same number (at least 2) of points, got {len(x)} and {len(y)}")
    steps = np.diff(x)
    if np.any(steps < 0) and np.any(steps > 0):
        raise ValueError("auc: x is neither increasing nor decreasing")
    direction = -1.0 if np.any(steps < 0) else 1.0
    return direction * float(np.sum(steps * (y[1:] + y[:-1]) / 2))


def _binary_auc(positive, scores, weights):
    if positive.all() or not positive.any():
        warn_undefined("Only one class is present in y_true. ROC AUC score is not defined in that case.")
        return np.nan
    fpr, tpr, _ = roc_curve(positive, scores, sample_weight=weights)
    return auc(fpr, tpr)


def roc_auc_score(y_true, y_score, *, average="macro", sample_weight=None, multi_class="raise", labels=None):
    """Area under the ROC curve: binary, or multi-class as each class against the rest ('ovr').

    Args:
        y_true: true labels, shape (n,). With two classes, the larger label is the positive one.
        y_score: binary: the positive class's scores, shape (n,). Multi-class: probabilities (n, classes)
            whose rows sum to 1, columns in the sorted order of the classes.
        average: multi-class only: 'macro' (mean over classes), 'weighted' (by support), 'micro' (over
            every (sample, class) pair) or None (one score per class).
        sample_weight: optional weight of each sample.
        multi_class: 'ovr' for more than two classes ('raise', the default, refuses them, as
            scikit-learn does).
        labels: multi-class only: every class, sorted, when y_true does not contain them all.

    Returns:
        The area as a float (an array per class with average=None); NaN with a warning when y_true has
        a single class.
    """
    what = "roc_auc_score"
    y_true = as_1d(y_true, "y_true", what)
    scores = np.asarray(y_score)
    classes = np.unique(y_true)
    if len(classes) <= 2 and (scores.ndim == 1 or scores.shape[1:] == (1,)):
        scores = _scores(scores, len(y_true), what)
        weights = sample_weights(sample_weight, len(y_true), what)
        return _binary_auc(y_true == classes[-1], scores, weights)
    if multi_class != "ovr":
        raise ValueError(f"{what}: y_true has {len(classes)} classes; pass multi_class='ovr' (one class "
                         f"against the rest), the only multi-class scheme supported")
    return _one_vs_rest_auc(y_true, scores, classes, labels, average, sample_weight)


def _one_vs_rest_auc(y_true, scores, classes, labels, average, sample_weight):
    what = "roc_auc_score"
    if average not in _AUC_AVERAGES:
        raise ValueError(f"{what}: average must be one of {_AUC_AVERAGES} for multi-class, got {average!r}")
    if scores.ndim != 2 or len(scores) != len(y_true):
        raise ValueError(f"{what}: y_score must be (n_samples, n_classes) = ({len(y_true)}, classes) for "
                         f"multi-class, got shape {scores.shape}")
    if labels is not None:
        given = as_1d(labels, "labels", what)
        if len(np.unique(given)) != len(given) or not np.array_equal(np.unique(given), given):
            raise ValueError(f"{what}: labels must be unique and sorted, got {list(given)}")
        if not np.isin(y_true, given).all():
            raise ValueError(f"{what}: y_true contains labels not in labels")
        classes = given
    if len(classes) != scores.shape[1]:
        raise ValueError(f"{what}: {len(classes)} classes but y_score has {scores.shape[1]} columns")
    if not np.allclose(1, scores.sum(axis=1)):
        raise ValueError(f"{what}: multi-class y_score must be probabilities whose rows sum to 1")
    weights = sample_weights(sample_weight, len(y_true), what)
    one_hot = y_true[:, None] == classes[None, :]
    if average == "micro":
        repeated = None if weights is None else np.repeat(weights, len(classes))
        return _binary_auc(one_hot.ravel(), _scores(scores.ravel(), one_hot.size, what), repeated)
    per_class = np.array([_binary_auc(one_hot[:, c], _scores(scores[:, c], len(y_true), what), weights)
                          for c in range(len(classes))])
    if average is None:
        return per_class
    if average == "macro":
        return float(np.mean(per_class))
    support = one_hot.sum(axis=0) if weights is None else weights @ one_hot
    if np.isclose(support.sum(), 0):
        return 0.0
    return float(np.average(np.where(support == 0, 0.0, per_class), weights=support))
