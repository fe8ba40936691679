"""report(model, x, y): the evaluation that fits the model's loss, printed and returned as a dict.

It reads only the model's public API (model.loss and model.predict), so it serves any model with them.
"""
import numpy as np

from . import activations, losses, metrics

__all__ = ["report"]

_CLASSIFICATION_LOSSES = (losses.BinaryCrossentropy, losses.CategoricalCrossentropy,
                          losses.SparseCategoricalCrossentropy)


def report(model, x, y, *, target_names=None, batch_size=None, digits=2, print_fn=print):
    """Evaluate a compiled model on (x, y): print a report that fits its loss and return the same as a dict.

    Classification (binary, categorical or sparse categorical cross-entropy): precision, recall, F1 and
    support of each class with their averages and the accuracy, the confusion matrix, and for a binary
    task (one sigmoid output, or two classes) the ROC AUC. Regression (any other loss): the mean absolute
    error, mean squared error, its root and R² (averaged over outputs).

    Args:
        model: a compiled model (its loss decides the report).
        x: inputs.
        y: targets as the model trains on them: 0/1 for binary cross-entropy, one-hot rows (or class
            indices) for categorical cross-entropy, class indices for sparse categorical cross-entropy.
        target_names: display names of the classes 0, 1, ..., in order.
        batch_size: batch size of model.predict.
        digits: decimals of the printed scores.
        print_fn: called with each printed line (print by default).

    Returns:
        Classification: {"task": "binary" or "multiclass", "samples", "classification_report": the dict
        of fastnn.metrics.classification_report, "confusion_matrix": (classes, classes) array, rows true,
        "roc_auc": float (binary only)}. Regression: {"task": "regression", "samples",
        "mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "r2"}.

    Example:
        >>> results = fastnn.evaluation.report(model, x_test, y_test)
        >>> results["classification_report"]["accuracy"]
    """
    if getattr(model, "loss", None) is None:
        raise ValueError("report: the model needs a loss; compile() it first")
    loss = losses.get(model.loss)
    outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    y = np.asarray(y)
    if len(y) != len(outputs):
        raise ValueError(f"report: x and y need the same number of samples, got {len(outputs)} and {len(y)}")
    if isinstance(loss, _CLASSIFICATION_LOSSES):
        results, lines = _classification(loss, outputs, y, target_names, digits)
    else:
        results, lines = _regression(outputs, y, digits)
    for line in lines:
        print_fn(line)
    return results


def _probabilities(loss, outputs):
    if not getattr(loss, "from_logits", False):
        return outputs
    return activations.sigmoid(outputs) if isinstance(loss, losses.BinaryCrossentropy) else activations.softmax(outputs)


def _class_indices(y, n_classes):
    """One-hot rows (or probabilities) become their argmax; class indices stay as they are."""
    if y.ndim == 2 and y.shape[1] == n_classes and n_classes > 1:
        return np.argmax(y, axis=1)
    return y.reshape(len(y)).astype(np.int64)


def _classification(loss, outputs, y, target_names, digits):
    proba = _probabilities(loss, outputs).reshape(len(outputs), -1)
    if isinstance(loss, losses.BinaryCrossentropy):
        if proba.shape[1] != 1:
            raise ValueError(f"report: binary cross-entropy with {proba.shape[1]} outputs is multi-label, which "
                             f"report does not cover; give the model one sigmoid output")
        positive = proba[:, 0]
        y_true = (y.reshape(len(y)) >= 0.5).astype(np.int64)
        y_pred = (positive > 0.5).astype(np.int64)
        n_classes = 2
    else:
        n_classes = proba.shape[1]
        y_true = _class_indices(y, n_classes)
        y_pred = np.argmax(proba, axis=1)
        positive = proba[:, 1] if n_classes == 2 else None
    classes = np.arange(n_classes)
    names = [str(c) for c in classes] if target_names is None else [str(name) for name in target_names]
    scores = metrics.classification_report(y_true, y_pred, labels=classes, target_names=names, zero_division=0.0,
                                           output_dict=True)
    text = metrics.classification_report(y_true, y_pred, labels=classes, target_names=names, zero_division=0.0,
                                         digits=digits)
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=classes)
    task = "binary" if n_classes == 2 else "multiclass"
    results = {"task": task, "samples": len(y_true), "classification_report": scores, "confusion_matrix": matrix}
    lines = [f"{task.capitalize()} classification of {len(y_true)} samples", ""] + text.rstrip("\n").split("\n")
    lines += ["", "Confusion matrix (rows: true class, columns: predicted class)"] + _matrix_lines(matrix, names)
    if positive is not None:
        results["roc_auc"] = _binary_auc(y_true, positive)
        lines += ["", f"ROC AUC: {results['roc_auc']:.{max(digits, 4)}f}"]
    return results, lines


def _binary_auc(y_true, positive_scores):
    """NaN when only one class is present or the scores are not finite (a diverged model)."""
    if len(np.unique(y_true)) < 2 or not np.isfinite(positive_scores).all():
        return float("nan")
    return metrics.roc_auc_score(y_true, positive_scores)


def _matrix_lines(matrix, names):
    width = max(max(len(name) for name in names), len(str(matrix.max())))
    lines = [" " * width + "".join(f"  {name:>{width}}" for name in names)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:>{width}}" + "".join(f"  {count:>{width}}" for count in row))
    return lines


def _regression(outputs, y, digits):
    predictions = outputs.reshape(len(outputs), -1)
    targets = y.reshape(len(y), -1)
    if targets.shape != predictions.shape:
        raise ValueError(f"report: y of shape {y.shape} does not match the model's outputs {outputs.shape}")
    mse = metrics.mean_squared_error(targets, predictions)
    results = {"task": "regression", "samples": len(targets),
               "mean_absolute_error": metrics.mean_absolute_error(targets, predictions),
               "mean_squared_error": mse, "root_mean_squared_error": float(np.sqrt(mse)),
               "r2": metrics.r2_score(targets, predictions)}
    lines = [f"Regression of {len(targets)} samples" + (f" ({targets.shape[1]} outputs, averaged)"
                                                        if targets.shape[1] > 1 else ""), ""]
    names = {"mean_absolute_error": "mean absolute error", "mean_squared_error": "mean squared error",
             "root_mean_squared_error": "root mean squared error", "r2": "R^2"}
    lines += [f"{label:>24}  {results[key]:>12.{max(digits, 4)}f}" for key, label in names.items()]
    return results, lines
