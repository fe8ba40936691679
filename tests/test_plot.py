"""fastnn.plot: each function returns a Figure whose artists hold the numbers fastnn.metrics computes, with
labelled axes and training and validation curves told apart."""
import io

import numpy as np
import pytest

import fastnn
from fastnn import metrics
from fastnn.layers import Dense, Input


@pytest.fixture(scope="module")
def plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from fastnn import plot

    return plot


@pytest.fixture(scope="module")
def fitted():
    fastnn.set_seed(0)
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits()
    model = fastnn.Sequential([Input((64,)), Dense(16, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=4, validation_split=0.2, verbose=0)
    return history, model.predict(x_test, verbose=0), y_test


def png_bytes(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_history(plot, fitted):
    history = fitted[0]
    figure = plot.history(history)
    assert [ax.get_ylabel() for ax in figure.axes] == ["accuracy", "loss"]
    for ax in figure.axes:
        assert ax.get_xlabel() == "epoch"
        train, validation = ax.get_lines()
        assert [train.get_label(), validation.get_label()] == ["training", "validation"]
        assert train.get_linestyle() != validation.get_linestyle() and train.get_color() != validation.get_color()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(train.get_ydata(), history.history[ax.get_ylabel()])
        np.testing.assert_allclose(validation.get_ydata(), history.history["val_" + ax.get_ylabel()])
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    assert png_bytes(figure).startswith(b"\x89PNG")
    only_training = plot.history({"loss": [1.0, 0.5]})
    assert len(only_training.axes) == 1 and len(only_training.axes[0].get_lines()) == 1
    with pytest.raises(ValueError, match="History"):
        plot.history({})


def test_confusion_matrix(plot, fitted):
    _, proba, y_test = fitted
    y_pred = proba.argmax(axis=1)
    figure = plot.confusion_matrix(y_test, y_pred)
    ax = figure.axes[0]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), metrics.confusion_matrix(y_test, y_pred))
    cells = [t.get_text() for t in ax.texts]
    assert cells == [str(v) for v in metrics.confusion_matrix(y_test, y_pred).ravel()]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted label", "true label")
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in range(10)]
    names = np.array(["cat", "dog", "emu"])
    normalized = plot.confusion_matrix(names[[0, 1, 1, 2]], names[[0, 1, 2, 2]], labels=["emu", "dog", "cat"],
                                       normalize="true").axes[0]
    assert [t.get_text() for t in normalized.get_yticklabels()] == ["emu", "dog", "cat"]
    assert [t.get_text() for t in normalized.texts][:3] == ["1.00", "0.00", "0.00"]
    assert "normalized" in normalized.get_title()


def test_roc_and_precision_recall_curves(plot, fitted):
    _, proba, y_test = fitted
    is_three, scores = y_test == 3, proba[:, 3]
    roc = plot.roc_curve(is_three.astype(int), scores, name="digit 3").axes[0]
    curve, chance = roc.get_lines()
    fpr, tpr, _ = metrics.roc_curve(is_three.astype(int), scores)
    np.testing.assert_allclose(curve.get_xdata(), fpr)
    np.testing.assert_allclose(curve.get_ydata(), tpr)
    area = metrics.roc_auc_score(is_three, scores)
    assert curve.get_label() == f"digit 3 (AUC = {area:.3f})" and "chance" in chance.get_label()
    assert (roc.get_xlabel(), roc.get_ylabel()) == ("false positive rate", "true positive rate")
    labels = np.where(is_three, "three", "other")
    pr = plot.precision_recall_curve(labels, scores, pos_label="three").axes[0]
    precision, recall, _ = metrics.precision_recall_curve(labels, scores, pos_label="three")
    np.testing.assert_allclose(pr.get_lines()[0].get_xdata(), recall)
    np.testing.assert_allclose(pr.get_lines()[0].get_ydata(), precision)
    assert pr.get_lines()[1].get_ydata()[0] == pytest.approx(is_three.mean())
    assert (pr.get_xlabel(), pr.get_ylabel()) == ("recall", "precision")


def test_drawing_into_given_axes(plot):
    from matplotlib.figure import Figure

    figure = Figure()
    left, right = figure.subplots(1, 2)
    assert plot.roc_curve([0, 1, 1], [0.2, 0.9, 0.4], ax=left) is figure
    assert plot.confusion_matrix([0, 1, 1], [0, 1, 0], ax=right) is figure
    assert len(left.get_lines()) == 2 and len(right.get_images()) == 1
    history_figure = Figure()
    assert plot.history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, figure=history_figure) is history_figure
