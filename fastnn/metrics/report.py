"""classification_report: per-label precision, recall, F1 and support with their averages, as scikit-learn
lays them out (text) or as a dict."""
import warnings

import numpy as np

from ._targets import class_targets
from .classification import precision_recall_fscore_support

__all__ = ["classification_report"]

_HEADERS = ("precision", "recall", "f1-score", "support")
_AVERAGES = ("micro", "macro", "weighted")


def classification_report(y_true, y_pred, *, labels=None, target_names=None, sample_weight=None, digits=2,
                          output_dict=False, zero_division="warn"):
    """Precision, recall, F1 and support of each label, then the micro (shown as 'accuracy' when it is
    one), macro and weighted averages.

    Args:
        y_true: true labels, shape (n,).
        y_pred: predicted labels, shape (n,).
        labels: the labels to report, in order. Default: the sorted labels present in y_true or y_pred.
        target_names: display names of the labels, in the same order.
        sample_weight: optional weight of each sample.
        digits: decimals of the scores in the text.
        output_dict: return a dict instead of text.
        zero_division: as in precision_recall_fscore_support.

    Returns:
        The report as text, or {name: {"precision", "recall", "f1-score", "support"}, "accuracy": float,
        "macro avg": {...}, "weighted avg": {...}} (a "micro avg" row instead of "accuracy" when labels
        leave some classes out).

    Example:
        >>> print(classification_report([0, 1, 1], [0, 1, 0]))
    """
    y_true, y_pred, present = class_targets(y_true, y_pred, "classification_report")
    labels_given = labels is not None
    labels = np.asarray(labels) if labels_given else present
    micro_is_accuracy = not labels_given or set(present.tolist()) <= set(labels.tolist())
    if target_names is not None and len(target_names) != len(labels):
        if not labels_given:
            raise ValueError(f"classification_report: {len(labels)} classes but {len(target_names)} target_names; "
                             f"pass labels= to say which classes they name")
        warnings.warn(f"classification_report: labels size, {len(labels)}, does not match size of target_names, "
                      f"{len(target_names)}", UserWarning, stacklevel=2)
    names = [str(label) for label in labels] if target_names is None else [str(name) for name in target_names]
    scores = dict(y_true=y_true, y_pred=y_pred, labels=labels, sample_weight=sample_weight,
                  zero_division=zero_division)
    precision, recall, f1, support = precision_recall_fscore_support(**scores)
    rows = {name: (p, r, f, s) for name, p, r, f, s in zip(names, precision, recall, f1, support)}
    total = support.sum()
    averages = {}
    for average in _AVERAGES:
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        averages[heading] = precision_recall_fscore_support(average=average, **scores)[:3] + (total,)
    if output_dict:
        report = {name: dict(zip(_HEADERS, map(float, row))) for name, row in {**rows, **averages}.items()}
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report
    return _text(rows, averages, digits)


def _text(rows, averages, digits):
    width = max([len(name) for name in rows] + [len("weighted avg"), digits])
    row_format = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *_HEADERS, width=width) + "\n\n"
    for name, row in rows.items():
        text += row_format.format(name, *row, width=width, digits=digits)
    text += "\n"
    for heading, row in averages.items():
        if heading == "accuracy":
            text += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
                heading, "", "", row[2], row[3], width=width, digits=digits)
        else:
            text += row_format.format(heading, *row, width=width, digits=digits)
    return text
