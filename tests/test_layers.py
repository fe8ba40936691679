"""Layers: shapes, parameters, config round trip and finite-difference backward for every layer (one helper)."""
import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.layers import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from fastnn.engine.context import CallContext
from layer_helpers import check_layer


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "gelu", "silu",
                                        "softplus", "leaky_relu"])
def test_dense_backward_every_activation(activation):
    layer = Dense(5, activation=activation)
    check_layer(layer, (4, 7), (4, 5), 7 * 5 + 5)


def test_dense_without_bias_and_with_regularizers():
    check_layer(Dense(3, use_bias=False, kernel_regularizer="l2"), (6, 4), (6, 3), 12)
    check_layer(Dense(3, kernel_regularizer=fastnn.regularizers.L1L2(l1=0.01, l2=0.02), bias_regularizer="l1",
                      bias_initializer="ones"), (6, 4), (6, 3), 15)


def test_dense_on_rank3_inputs_uses_last_axis():
    layer = Dense(5, activation="tanh")
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    y = check_layer(layer, (2, 3, 4), (2, 3, 5), 25, x=x)
    expected = np.tanh(x.astype(np.float64) @ layer.kernel + layer.bias)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_dense_matches_numpy_and_keras_weight_layout():
    layer = Dense(3, activation="relu")
    layer.build((None, 4))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 3) and bias.shape == (3,) and kernel.dtype == np.float32
    assert np.all(bias == 0) and np.abs(kernel).max() <= np.sqrt(6 / 7) + 1e-6  # glorot_uniform limit
    x = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_allclose(layer(x), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_activation_layer_and_other_shape_layers():
    check_layer(Activation("softmax"), (3, 6), (3, 6), 0)
    check_layer(Activation("relu"), (3, 2, 4), (3, 2, 4), 0)
    check_layer(Flatten(), (2, 3, 4), (2, 12), 0)
    check_layer(Reshape((2, -1)), (3, 8), (3, 2, 4), 0)
    check_layer(Reshape((4, 2)), (3, 2, 4), (3, 4, 2), 0)


def test_dropout_backward_replays_the_mask():
    layer = Dropout(0.4, seed=3)

    def same_mask():
        layer._rng = np.random.default_rng(3)

    check_layer(layer, (8, 10), (8, 10), 0, training=True, before_forward=same_mask)


def test_dropout_semantics():
    fastnn.set_seed(5)
    layer = Dropout(0.25)
    x = np.ones((400, 50), np.float32)
    ctx = CallContext(training=True)
    y = layer.forward(ctx, x)
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(layer.backward(ctx, np.full_like(x, 2.0)), 2.0 * y)
    assert layer.forward(CallContext(training=False), x) is x
    fastnn.set_seed(5)
    np.testing.assert_array_equal(Dropout(0.25)(x, training=True), y)
    noise = Dropout(0.5, noise_shape=(None, 1), seed=1)(np.ones((6, 4), np.float32), training=True)
    assert all(len(set(row)) == 1 for row in noise.tolist())


def test_input_layer_config_and_shapes():
    tensor = Input(shape=(8,), name="pixels")
    layer = tensor.layer
    assert isinstance(layer, InputLayer) and layer.batch_shape == (None, 8)
    assert tensor.shape == (None, 8) and tensor.dtype == "float32" and tensor.name == "pixels"
    config = layer.get_config()
    assert config["batch_shape"] == [None, 8]
    assert InputLayer.from_config(config).batch_shape == (None, 8)
    with pytest.raises(ValueError):
        InputLayer()


def test_registry_and_names():
    assert layers.get_layer_class("Dense") is Dense
    with pytest.raises(ValueError, match="unknown layer class 'Conv9D'.*Dense"):
        layers.get_layer_class("Conv9D")
    a, b = Dense(2), Dense(2)
    assert a.name != b.name and a.name.startswith("dense") and b.name.startswith("dense_")

    @layers.register
    class Twice(layers.Layer):
        def forward(self, ctx, x):
            return 2 * x

    assert layers.get_layer_class("Twice") is Twice


def test_clear_session_restarts_names():
    """keras.backend.clear_session() (or keras.utils.clear_session()) between experiments: the next
    layers and models are named from the start again."""
    Dense(2), fastnn.Sequential()
    fastnn.backend.clear_session()
    assert Dense(2).name == "dense" and Dense(2).name == "dense_1"
    assert fastnn.Sequential().name == "sequential"
    fastnn.utils.clear_session(free_memory=False)
    assert Dense(2).name == "dense"


@pytest.mark.parametrize("make, error", [
    (lambda: Dense(0), ValueError),
    (lambda: Dense(2.5), ValueError),
    (lambda: Dense(2, activation="nope"), ValueError),
    (lambda: Dense(2, kernel_initializer="nope"), ValueError),
    (lambda: Dense(2, unknown_arg=1), TypeError),
    (lambda: Dropout(1.0), ValueError),
    (lambda: Dropout(-0.1), ValueError),
    (lambda: Reshape((-1, -1)), ValueError),
    (lambda: Dense(2, input_dim=3, input_shape=(3,)), ValueError),
])
def test_invalid_arguments(make, error):
    with pytest.raises(error):
        make()


def test_dense_rejects_wrong_input_width():
    layer = Dense(4, name="probe")
    layer.build((None, 8))
    with pytest.raises(ValueError, match=r"Dense 'probe' expected input with last dimension 8, got shape \(32, 5\)"):
        layer(np.zeros((32, 5), np.float32))


def test_set_weights_validates():
    layer = Dense(3, name="w")
    layer.build((None, 2))
    with pytest.raises(ValueError, match=r"'w': weight 'kernel' expected shape \(2, 3\), got \(3, 2\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="expected 2 weight arrays"):
        layer.set_weights([np.zeros((2, 3))])
    layer.set_weights([np.ones((2, 3)), np.arange(3)])
    np.testing.assert_array_equal(layer.bias, [0, 1, 2])


def test_reshape_rejects_incompatible_sizes():
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape((3, 3)).build((None, 8))
