"""fastnn.evaluation.report on fixed predictions (hand-checked) and on a trained model; the optional extras'
import errors."""
import importlib
import sys

import numpy as np
import pytest

import fastnn
from fastnn import evaluation, losses, metrics
from fastnn.layers import Dense, Input


class FixedModel:
    """Just the public API report reads: a loss and predict."""

    def __init__(self, loss, outputs):
        self.loss = loss
        self.outputs = np.asarray(outputs, np.float32)

    def predict(self, x, batch_size=None, verbose="auto"):
        return self.outputs


def run(model, y, **kwargs):
    lines = []
    return evaluation.report(model, np.zeros((len(y), 2)), y, print_fn=lines.append, **kwargs), lines


def test_binary_report_by_hand():
    model = FixedModel("binary_crossentropy", [[0.9], [0.6], [0.4], [0.2], [0.7]])
    results, lines = run(model, np.array([1, 0, 1, 0, 1]), target_names=["no", "yes"])
    assert results["task"] == "binary" and results["samples"] == 5
    np.testing.assert_array_equal(results["confusion_matrix"], [[1, 1], [1, 2]])
    assert results["roc_auc"] == pytest.approx(5 / 6)  # positives 0.9, 0.4, 0.7 against negatives 0.6, 0.2
    assert results["classification_report"]["yes"]["precision"] == pytest.approx(2 / 3)
    assert results["classification_report"]["accuracy"] == pytest.approx(0.6)
    text = "\n".join(lines)
    assert "Binary classification of 5 samples" in text and "ROC AUC: 0.8333" in text
    matrix_at = lines.index("Confusion matrix (rows: true class, columns: predicted class)")
    assert lines[matrix_at + 1:matrix_at + 4] == ["      no  yes", " no    1    1", "yes    1    2"]
    assert metrics.classification_report([1, 0, 1, 0, 1], [1, 1, 0, 0, 1], target_names=["no", "yes"]) in text + "\n"


def test_logits_and_categorical_targets():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    one_hot = np.eye(3)[[0, 1, 2, 2]]
    model = FixedModel(losses.CategoricalCrossentropy(from_logits=True), logits)
    results, lines = run(model, one_hot)
    assert results["task"] == "multiclass" and "roc_auc" not in results
    np.testing.assert_array_equal(results["confusion_matrix"], [[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    sparse, _ = run(FixedModel("sparse_categorical_crossentropy", logits), np.array([0, 1, 2, 2]))
    np.testing.assert_array_equal(sparse["confusion_matrix"], results["confusion_matrix"])
    two_classes, _ = run(FixedModel(losses.BinaryCrossentropy(from_logits=True), [[3.0], [-1.0], [0.5]]),
                         np.array([1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(two_classes["confusion_matrix"], [[1, 1], [0, 1]])
    assert two_classes["roc_auc"] == pytest.approx(1.0)


def test_regression_report_by_hand():
    y = np.array([3.0, -0.5, 2.0, 7.0])
    results, lines = run(FixedModel("mse", [[2.5], [0.0], [2.0], [8.0]]), y)
    assert results == pytest.approx({"task": "regression", "samples": 4, "mean_absolute_error": 0.5,
                                     "mean_squared_error": 0.375, "root_mean_squared_error": np.sqrt(0.375),
                                     "r2": 1 - 1.5 / 29.1875})
    assert any("R^2" in line and "0.9486" in line for line in lines)


def test_report_on_a_trained_model():
    fastnn.set_seed(0)
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits()
    model = fastnn.Sequential([Input((64,)), Dense(32, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=15, verbose=0)
    results = evaluation.report(model, x_test, y_test, print_fn=lambda line: None)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert results["classification_report"]["accuracy"] == pytest.approx(accuracy)
    assert results["confusion_matrix"].sum() == len(y_test) and results["classification_report"]["accuracy"] > 0.9


def test_report_errors():
    with pytest.raises(ValueError, match="loss"):
        run(FixedModel(None, [[1.0]]), np.array([1]))
    with pytest.raises(ValueError, match="multi-label"):
        run(FixedModel("binary_crossentropy", [[0.2, 0.9]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="same number of samples"):
        evaluation.report(FixedModel("mse", [[1.0], [2.0]]), np.zeros((2, 1)), np.zeros(3))


@pytest.mark.parametrize("module,dependency,extra", [("fastnn.wrappers", "sklearn", "sklearn"),
                                                     ("fastnn.plot", "matplotlib", "plot")])
def test_optional_extras_are_named_when_missing(monkeypatch, module, dependency, extra):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    for name in [dependency] + [m for m in sys.modules if m.startswith(dependency + ".")]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules makes the import raise ImportError
    with pytest.raises(ImportError, match=rf"{module} needs .*pip install fastnn\[{extra}\]"):
        importlib.import_module(module)
