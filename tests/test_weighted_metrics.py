"""compile(metrics=..., weighted_metrics=...): plain metrics ignore sample and class weights, weighted ones
apply them, with Keras 3's names (values below are Keras 3's on the same weights)."""
import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Input
from fastnn.models import Sequential

X = np.array([[0.], [1.], [2.], [3.]], np.float32)
Y = np.array([[0.], [1.], [1.], [1.]], np.float32)
SW = np.array([1., 0., 0., 10.], np.float32)


def fixed_model(**compile_args):
    model = Sequential([Input((1,)), Dense(1, activation="sigmoid")])
    model.set_weights([np.array([[1.]], np.float32), np.array([-1.5], np.float32)])
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy", **compile_args)
    return model


def test_metrics_unweighted_and_weighted_metrics_weighted():
    model = fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    logs = model.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.75) and logs["weighted_accuracy"] == pytest.approx(1.0)
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    history = model.fit(X, Y, sample_weight=SW, epochs=1, verbose=0)
    assert history.history["accuracy"][0] == pytest.approx(0.75)
    assert history.history["weighted_accuracy"][0] == pytest.approx(1.0)


def test_weighted_metric_keeps_its_name_without_a_plain_twin():
    model = fixed_model(metrics=["mae"], weighted_metrics=["accuracy", "mae"])
    logs = model.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert sorted(logs) == ["accuracy", "loss", "mae", "weighted_mae"]
    assert logs["accuracy"] == pytest.approx(1.0) and logs["weighted_mae"] < logs["mae"]


def test_class_weight_weighs_only_weighted_metrics():
    model = fixed_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = model.fit(X, Y, class_weight={0: 0.0, 1: 1.0}, epochs=1, batch_size=4, verbose=0)
    assert history.history["accuracy"][0] == pytest.approx(0.75)
    assert history.history["weighted_accuracy"][0] == pytest.approx(2 / 3)


@pytest.mark.parametrize("weight, error, message", [
    (float("nan"), ValueError, "must be finite and non-negative, got nan"), (float("inf"), ValueError, ".*got inf"),
    (-1.0, ValueError, ".*got -1.0"), ("2", TypeError, "must be a number, got str"), (None, TypeError, ".*NoneType")])
def test_class_weight_refuses_bad_weights_naming_the_class(weight, error, message):
    model = fixed_model()
    with pytest.raises(error, match=f"fit: class_weight of class 1 {message}"):
        model.fit(X, Y, class_weight={0: 1.0, 1: weight}, verbose=0)


def test_multi_output_names_and_file_round_trip(tmp_path):
    a = Input((1,))
    model = fastnn.Model(a, [Dense(1, activation="sigmoid", name="o1")(a), Dense(1, activation="sigmoid", name="o2")(a)])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics={"o1": ["accuracy"]},
                  weighted_metrics={"o1": ["accuracy"], "o2": "mae"})
    logs = model.evaluate(X, [Y, Y], sample_weight=SW, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "o1_accuracy", "o1_loss", "o1_weighted_accuracy", "o2_loss", "o2_mae"]
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.saving.load_model(tmp_path / "m.fnn")
    assert loaded.evaluate(X, [Y, Y], sample_weight=SW, verbose=0, return_dict=True) == pytest.approx(logs)


def test_multi_output_refuses_class_weight_and_per_output_sample_weight():
    a = Input((1,))
    model = fastnn.Model(a, [Dense(1, activation="sigmoid", name="o1")(a), Dense(1, activation="sigmoid", name="o2")(a)])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    before = model.get_weights()
    with pytest.raises(ValueError, match="`class_weight` is only supported for Models with a single output"):
        model.fit(X, [Y, Y], class_weight={0: 1.0, 1: 2.0}, verbose=0)
    with pytest.raises(TypeError, match="per-output sample weights.*not supported"):
        model.fit(X, [Y, Y], sample_weight={"o1": SW, "o2": SW}, verbose=0)
    with pytest.raises(TypeError, match="per-output sample weights.*not supported"):
        model.fit(X, [Y, Y], sample_weight=[SW, SW], verbose=0)
    assert all(np.array_equal(w, b) for w, b in zip(model.get_weights(), before))
    model.fit(X, [Y, Y], sample_weight=list(SW), epochs=1, verbose=0)  # one plain list of weights is still one array
