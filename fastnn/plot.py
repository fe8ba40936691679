"""Plots of training and evaluation with matplotlib: each function returns a matplotlib Figure.

Needs matplotlib: ``pip install fastnn[plot]``. Figures are made without pyplot (no global state, no
window), so they work headless: ``fig.savefig("history.png")``; in Jupyter a returned Figure shows
itself. To draw into your own figure (say, to plt.show() it), pass ``ax=`` (``figure=`` for history).

Example:
    >>> history = model.fit(x, y, validation_split=0.2, epochs=20)
    >>> fastnn.plot.history(history).savefig("history.png")
    >>> fastnn.plot.confusion_matrix(y_test, model.predict(x_test).argmax(axis=1)).savefig("confusion.png")
"""
try:
    from matplotlib.figure import Figure
except ImportError:
    raise ImportError("fastnn.plot needs matplotlib: pip install fastnn[plot]") from None

import numpy as np

from . import metrics

__all__ = ["history", "confusion_matrix", "roc_curve", "precision_recall_curve"]

_TRAIN_STYLE = {"color": "tab:blue", "linestyle": "-", "marker": "o", "markersize": 3, "label": "training"}
_VALIDATION_STYLE = {"color": "tab:orange", "linestyle": "--", "marker": "s", "markersize": 3, "label": "validation"}


def _axes(ax, size=(4.8, 4.2)):
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def history(history, *, figure=None):
    """Loss and each metric per epoch, one panel each, training (solid) against validation (dashed).

    Args:
        history: the History that fit returned, or its .history dict ({name: [value per epoch]}).
        figure: a matplotlib Figure to draw into; a new one by default.

    Returns:
        The Figure.
    """
    logs = history.history if hasattr(history, "history") else history
    if not isinstance(logs, dict) or not logs:
        raise ValueError(f"plot.history: expected a History or a non-empty {{name: values}} dict, got {history!r}")
    names = [name for name in logs if not name.startswith("val_")]
    names += [name[4:] for name in logs if name.startswith("val_") and name[4:] not in logs]
    epochs = getattr(history, "epoch", None)
    if figure is None:
        figure = Figure(figsize=(4.2 * len(names), 3.6), layout="constrained")
    for i, name in enumerate(names):
        ax = figure.add_subplot(1, len(names), i + 1)
        for key, style in ((name, _TRAIN_STYLE), ("val_" + name, _VALIDATION_STYLE)):
            if key in logs:
                values = np.asarray(logs[key], dtype=np.float64)
                x = np.asarray(epochs) + 1 if epochs is not None and len(epochs) == len(values) else \
                    np.arange(1, len(values) + 1)
                ax.plot(x, values, **style)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name.replace("_", " "))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def confusion_matrix(y_true, y_pred, labels=None, normalize=None, *, ax=None, cmap="Blues"):
    """The confusion matrix as a heat map with its values written in the cells.

    Args:
        y_true: true labels, shape (n,).
        y_pred: predicted labels, shape (n,).
        labels: the labels to show, in order (default: the sorted labels present).
        normalize: None (counts), 'true' (rows sum to 1), 'pred' (columns sum to 1) or 'all'.
        ax: a matplotlib Axes to draw into; a new Figure by default.
        cmap: the colour map.

    Returns:
        The Figure.
    """
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    shown = np.unique(np.concatenate([np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()])) \
        if labels is None else np.asarray(labels)
    size = max(3.6, 0.45 * len(shown) + 2.0)
    ax = _axes(ax, (size + 0.8, size))
    image = ax.imshow(matrix, cmap=cmap, vmin=0, vmax=max(matrix.max(), 1e-12))
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    text_format = "{:d}" if normalize is None else "{:.2f}"
    dark = matrix > matrix.max() / 2
    for (row, column), value in np.ndenumerate(matrix):
        ax.text(column, row, text_format.format(value), ha="center", va="center",
                color="white" if dark[row, column] else "black", fontsize=9 if len(shown) <= 12 else 6)
    ticks = np.arange(len(shown))
    ax.set_xticks(ticks, [str(label) for label in shown])
    ax.set_yticks(ticks, [str(label) for label in shown])
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("Confusion matrix" + ("" if normalize is None else f" (normalized over {normalize})"))
    return ax.figure


def roc_curve(y_true, scores, *, pos_label=None, name=None, ax=None):
    """The ROC curve (true against false positive rate) with its area, and the chance diagonal.

    Args:
        y_true: true binary labels, shape (n,).
        scores: scores of the positive class (probabilities or logits), shape (n,).
        pos_label: the positive label (needed unless the labels are {0, 1} or {-1, 1}).
        name: the curve's name in the legend.
        ax: a matplotlib Axes to draw into; a new Figure by default.

    Returns:
        The Figure.
    """
    fpr, tpr, _ = metrics.roc_curve(y_true, scores, pos_label=pos_label)
    ax = _axes(ax)
    ax.plot(fpr, tpr, color="tab:blue", linewidth=2, label=f"{name or 'model'} (AUC = {metrics.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance (AUC = 0.5)")
    _unit_square(ax, "false positive rate", "true positive rate", "ROC curve")
    ax.legend(loc="lower right")
    return ax.figure


def precision_recall_curve(y_true, scores, *, pos_label=None, name=None, ax=None):
    """Precision against recall over every threshold, and the precision of always predicting positive.

    Args:
        y_true: true binary labels, shape (n,).
        scores: scores of the positive class, shape (n,).
        pos_label: the positive label (needed unless the labels are {0, 1} or {-1, 1}).
        name: the curve's name in the legend.
        ax: a matplotlib Axes to draw into; a new Figure by default.

    Returns:
        The Figure.
    """
    precision, recall, _ = metrics.precision_recall_curve(y_true, scores, pos_label=pos_label)
    y = np.asarray(y_true).ravel()
    base_rate = float(np.mean(y == (1 if pos_label is None else pos_label)))
    ax = _axes(ax)
    ax.step(recall, precision, where="post", color="tab:blue", linewidth=2, label=name or "model")
    ax.axhline(base_rate, color="grey", linestyle=":", label=f"chance (precision = {base_rate:.2f})")
    _unit_square(ax, "recall", "precision", "Precision-recall curve")
    ax.legend(loc="lower left")
    return ax.figure


def _unit_square(ax, xlabel, ylabel, title):
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
