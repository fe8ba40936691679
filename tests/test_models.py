"""Sequential: construction, flat parameter storage, weights, config, summary, compile config and files."""
import json
import pickle

import numpy as np
import pytest

import fastnn
from fastnn.layers import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from fastnn.models import Sequential


def mlp(**compile_args):
    fastnn.set_seed(0)
    model = Sequential([Input(shape=(8,)), Dense(10, activation="relu"), Dropout(0.2), Dense(8, activation="relu"),
                        Dense(1, activation="sigmoid")])
    if compile_args:
        model.compile(**compile_args)
    return model


def test_layers_exclude_input_and_build_is_eager():
    model = mlp()
    assert model.built and len(model.layers) == 4
    assert not any(isinstance(layer, InputLayer) for layer in model.layers)
    assert model.output_shape == (None, 1) and model.input_shape == (None, 8)
    assert model.count_params() == 90 + 88 + 9
    with pytest.raises(ValueError, match="only be the first"):
        model.add(Input(shape=(3,)))
    with pytest.raises(ValueError, match="unique names"):
        model.add(Dense(2, name=model.layers[0].name))
    with pytest.raises(TypeError, match="fastnn layer"):
        model.add("dense")


def test_trained_weights_are_views_into_one_flat_vector():
    model = mlp()
    model.compile(optimizer="adam", loss="mse")
    flat = model._pack.params
    assert flat.size == model.count_params()
    for w in model.weights:
        assert np.shares_memory(w, flat) and w.flags.c_contiguous and w.dtype == np.float32
    model.layers[0].kernel[0, 0] = 123.0
    assert 123.0 in flat
    model.add(Dense(2))  # repacking at the next training step keeps the values
    model.train_on_batch(np.zeros((4, 8)), np.zeros((4, 2)))
    assert model.count_params() == 187 + 4
    assert all(np.shares_memory(w, model._pack.params) for w in model.weights)
    assert 123.0 in model._pack.params


def test_get_set_weights_in_keras_order_with_clear_errors():
    model = mlp()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(8, 10), (10,), (10, 8), (8,), (8, 1), (1,)]
    new = [np.full(s, i, np.float32) for i, s in enumerate(shapes)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    copy = model.get_weights()
    copy[0][:] = -1
    assert model.get_weights()[0][0, 0] == 0  # get_weights returns copies
    with pytest.raises(ValueError, match="expected a list of 6 arrays, got 5"):
        model.set_weights(new[:5])
    bad = list(new)
    bad[2] = np.zeros((8, 10))
    with pytest.raises(ValueError, match=r"weight 2 \(dense\w*/kernel\) expected shape \(10, 8\), got \(8, 10\)"):
        model.set_weights(bad)
    np.testing.assert_array_equal(model.get_weights()[0], new[0])  # unchanged after the error


def test_config_round_trip_rebuilds_the_architecture():
    model = Sequential([Input(shape=(4, 3)), Flatten(), Dense(6, activation="tanh", kernel_regularizer="l2"),
                        Reshape((2, 3)), Activation("softmax")], name="probe")
    config = model.get_config()
    json.dumps(config)
    assert config["name"] == "probe" and config["layers"][0]["class_name"] == "InputLayer"
    assert [entry["class_name"] for entry in config["layers"]] == ["InputLayer", "Flatten", "Dense", "Reshape",
                                                                   "Activation"]
    clone = Sequential.from_config(config)
    assert clone.built and clone.get_config() == config
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((5, 4, 3))
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)


def test_compile_config_round_trip():
    model = mlp(optimizer=fastnn.optimizers.Adam(learning_rate=0.005), loss="binary_crossentropy",
                metrics=["accuracy", "mae"])
    config = model.compile_config()
    json.dumps(config)
    other = mlp()
    other.compile_from_config(config)
    assert other.compile_config() == config
    assert other.metrics_names == ["loss", "accuracy", "mae"]
    assert other.optimizer.learning_rate == pytest.approx(0.005)
    assert mlp().compile_config() is None


@pytest.mark.parametrize("bad", [dict(loss=lambda y_true, y_pred: y_pred.mean()), dict(metrics=["nope"]),
                                 dict(weighted_metrics=["nope"]), dict(loss="nope"), dict(optimizer="nope")])
@pytest.mark.parametrize("built", [True, False])
def test_failed_compile_leaves_the_model_as_it_was(bad, built, tmp_path):
    model = mlp() if built else Sequential([Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    config = model.compile_config()
    with pytest.raises((TypeError, ValueError)):
        model.compile(**{"optimizer": "sgd", "loss": "binary_crossentropy", **bad})
    assert model.compile_config() == config
    x, y = np.ones((4, 8)), np.zeros((4, 1))
    assert sorted(model.fit(x, y, verbose=0).history) == ["accuracy", "loss"]
    model.save(tmp_path / "m.fnn")


def test_summary_table(capsys):
    model = mlp()
    model.summary()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f'Model: "{model.name}"'
    assert "Layer (type)" in out and "Output Shape" in out and "Param #" in out
    dense = next(line for line in lines if f"{model.layers[0].name} (Dense)" in line)
    assert "(None, 10)" in dense and dense.rstrip("│ ").endswith("90")
    assert any("(Dropout)" in line and line.rstrip("│ ").endswith("0") for line in lines)
    assert " Total params: 187 (748.00 B)" in lines
    collected = []
    model.summary(print_fn=collected.append)
    assert collected == lines


def test_save_and_load_round_trip(tmp_path):
    model = mlp(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((64, 8))
    y = (x[:, :1] > 0.5).astype(np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.fnn"
    model.save(path)
    restored = fastnn.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.optimizer.iterations == model.optimizer.iterations
    for m in (model, restored):
        fastnn.set_seed(1)  # same shuffles and dropout masks
        m.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)  # resumed training continues exactly

    weights_path = tmp_path / "weights.safetensors"
    model.save_weights(weights_path)
    fresh = mlp()
    fresh.load_weights(weights_path)
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pop_and_unbuilt_errors():
    model = Sequential([Dense(3)])
    assert not model.built
    with pytest.raises(ValueError, match="needs a built model"):
        model.count_params()
    with pytest.raises(ValueError, match="needs an input shape"):
        model.build()
    model.build((None, 2))
    assert model.count_params() == 9
    model.add(Dense(1))
    assert model.pop().units == 1 and model.count_params() == 9


def test_models_pickle_and_deep_copy_as_their_files():
    import copy
    import pickle

    model = mlp(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((32, 8))
    y = (x[:, :1] > 0.5).astype(np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
        assert twin.optimizer.iterations == model.optimizer.iterations
    unbuilt = Sequential([Dense(3), Dense(1)])
    unbuilt.compile("sgd", "mse")
    again = pickle.loads(pickle.dumps(unbuilt))
    assert not again.built and again.compiled and [l.units for l in again.layers] == [3, 1]


def test_sequential_on_a_built_model_is_built_at_once_as_keras():
    base = Sequential([Input((6,)), Dense(4, activation="relu")], name="base")
    base.trainable = False
    model = Sequential([base, Dense(3, name="head")])
    assert model.built and model.input_shape == (None, 6) and model.output_shape == (None, 3)
    assert len(model.trainable_weights) == 2 and model.count_params() == 28 + 15
    model.get_layer("head").set_weights([np.ones((4, 3)), np.zeros(3)])
    x = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
