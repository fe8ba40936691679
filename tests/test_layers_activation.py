"""Keras's activation layers with arguments: ReLU (its C kernel against float64 on every SIMD path and
thread count), LeakyReLU, PReLU, ELU, Softmax over any axis; files, masks and ONNX export."""
import numpy as np
import pytest

import fastnn
from fastnn import layers as L

import reference as ref
from layer_helpers import check_layer, check_save_load_export

RELU_ARGS = [{}, {"max_value": 6.0}, {"negative_slope": 0.1, "threshold": 0.5},
             {"max_value": 1.0, "negative_slope": 0.2, "threshold": 0.25}, {"max_value": 0.0}]


def _guarded(n):
    buffer = np.full(n + 8, 1234.5, np.float32)
    return buffer[4:-4], buffer


@pytest.mark.parametrize("n", [1, 7, 64, 100_003])
@pytest.mark.parametrize("kwargs", RELU_ARGS)
def test_relu_kernel_against_float64_with_guards(n, kwargs, simd, nthreads):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)
    y, y_buffer = _guarded(n)
    dx, dx_buffer = _guarded(n)
    fastnn.ops.relu(x, out=y, **kwargs)
    fastnn.ops.relu_backward(x, dy, out=dx, **kwargs)
    y_ref, slope = ref.keras_relu(x, **kwargs)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dx, dy * slope, rtol=1e-6, atol=0)
    for buffer in (y_buffer, dx_buffer):
        assert (buffer[:4] == 1234.5).all() and (buffer[-4:] == 1234.5).all()


def test_relu_kernel_threads_bitwise_nan_inf_and_in_place(rng):
    x = (rng.standard_normal(300_001) * 3).astype(np.float32)
    x[:4] = [np.nan, np.inf, -np.inf, 0.5]
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append(fastnn.ops.relu(x, negative_slope=0.1, max_value=6.0, threshold=0.5))
    assert np.array_equal(results[0], results[1], equal_nan=True)
    assert np.isnan(results[0][0]) and results[0][1] == 6.0 and results[0][2] == -np.inf and results[0][3] == 0.0
    assert fastnn.ops.relu(x[:3])[2] == 0.0  # a zero slope gives 0 at -inf, not 0 * -inf
    assert np.isnan(fastnn.ops.relu_backward(x[:1], np.ones(1, np.float32))[0])
    inplace = x.copy()
    assert fastnn.ops.relu(inplace, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, fastnn.ops.relu(x))


def test_layers_by_hand():
    """The numbers Keras 3 gives for these layers on these inputs."""
    x = np.array([[-3, -1, -0.5, 0, 0.5, 1, 2, 7]], np.float32)
    np.testing.assert_allclose(L.ReLU(max_value=6, negative_slope=0.1, threshold=0.5)(x),
                               [[-0.35, -0.15, -0.1, -0.05, 0, 1, 2, 6]], rtol=1e-6)
    np.testing.assert_allclose(L.ReLU(threshold=0.5)(x), [[0, 0, 0, 0, 0, 1, 2, 7]])
    np.testing.assert_allclose(L.LeakyReLU()(x), [[-0.9, -0.3, -0.15, 0, 0.5, 1, 2, 7]], rtol=1e-6)
    np.testing.assert_allclose(L.ELU()(x), [[-0.95021296, -0.63212055, -0.39346933, 0, 0.5, 1, 2, 7]], rtol=1e-6)
    np.testing.assert_allclose(L.Softmax(axis=1)(np.arange(6, dtype=np.float32).reshape(1, 2, 3)),
                               [[[0.04742587] * 3, [0.95257413] * 3]], rtol=1e-6)


@pytest.mark.parametrize("kwargs", RELU_ARGS)
def test_relu_layer(kwargs):
    x = np.random.default_rng(1).standard_normal((4, 9)).astype(np.float32) * 3
    x[np.abs(x - kwargs.get("threshold", 0.0)) < 0.05] += 0.2  # away from the kinks
    x[np.abs(x - kwargs.get("max_value", 100.0)) < 0.05] += 0.2
    y = check_layer(L.ReLU(**kwargs), (4, 9), (4, 9), 0, x=x)
    np.testing.assert_allclose(y, ref.keras_relu(x, **kwargs)[0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layer, function", [
    (L.LeakyReLU(), lambda x: np.where(x > 0, x, 0.3 * x)),
    (L.LeakyReLU(negative_slope=0.05), lambda x: np.where(x > 0, x, 0.05 * x)),
    (L.ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (L.Softmax(), lambda x: ref.softmax(x, -1)),
    (L.Softmax(axis=1), lambda x: ref.softmax(x, 1)),
    (L.Softmax(axis=-2), lambda x: ref.softmax(x, -2)),
])
def test_argument_layers(layer, function):
    x = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32)
    x[np.abs(x) < 0.05] += 0.1
    y = check_layer(layer, (3, 4, 5), (3, 4, 5), 0, x=x)
    np.testing.assert_allclose(y, function(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert "activation" not in layer.get_config()


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (4, 5)), ([1], (1, 5)), (2, (4, 1)), ([1, 2], (1, 1))])
def test_prelu(shared_axes, alpha_shape):
    layer = L.PReLU(alpha_initializer="random_normal", shared_axes=shared_axes)
    y = check_layer(layer, (3, 4, 5), (3, 4, 5), int(np.prod(alpha_shape)))
    alpha = layer.get_weights()[0]
    assert alpha.shape == alpha_shape
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    x[np.abs(x) < 0.05] += 0.1
    np.testing.assert_allclose(y, np.where(x > 0, x, alpha * x), rtol=1e-6)


def test_prelu_nan_and_regularizer():
    layer = L.PReLU(alpha_regularizer="l2", alpha_initializer="ones")
    model = fastnn.Sequential([fastnn.Input((3,)), layer])
    assert np.isnan(model.predict(np.array([[np.nan, 1.0, -1.0]], np.float32), verbose=0)[0, 0])
    assert layer.alpha_regularizer is not None and layer.get_config()["alpha_regularizer"] is not None


@pytest.mark.parametrize("make, error", [
    (lambda: L.ReLU(max_value=-1), ValueError), (lambda: L.ReLU(negative_slope=-0.1), ValueError),
    (lambda: L.ReLU(threshold=-1), ValueError), (lambda: L.ReLU(max_value="6"), TypeError),
    (lambda: L.LeakyReLU(negative_slope=-1), ValueError), (lambda: L.LeakyReLU(negative_slope=None), TypeError),
    (lambda: L.ELU(alpha=-1.0), ValueError), (lambda: L.Softmax(axis="last"), TypeError),
    (lambda: L.Softmax(axis=[1, 2]), TypeError), (lambda: L.PReLU(shared_axes=[0]), ValueError),
    (lambda: L.PReLU(shared_axes="1"), TypeError), (lambda: L.PReLU(alpha_constraint="non_neg"), ValueError),
])
def test_bad_arguments(make, error):
    with pytest.raises(error, match="ReLU|ELU|Softmax"):
        make()


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="Softmax"):
        fastnn.Sequential([fastnn.Input((3,)), L.Softmax(axis=2)])
    with pytest.raises(ValueError, match="PReLU"):
        fastnn.Sequential([fastnn.Input((3,)), L.PReLU(shared_axes=[2])])


def test_model_saves_loads_passes_masks_and_exports(tmp_path, rng):
    inputs = fastnn.Input((5, 4))
    h = L.Masking()(inputs)
    for layer in (L.Dense(4), L.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), L.LeakyReLU(),
                  L.PReLU(shared_axes=[1], alpha_initializer="random_normal"), L.ELU(0.5), L.Softmax(axis=1),
                  L.ReLU()):
        h = layer(h)
    model = fastnn.Model(inputs, L.GlobalAveragePooling1D()(h))
    for layer in model.layers[2:-1]:  # the pooling drops it
        assert layer.compute_mask(None, np.ones((1, 5), bool)) is not None
    model.compile("adam", "mse")
    x = rng.standard_normal((32, 5, 4)).astype(np.float32)
    model.fit(x, rng.standard_normal((32, 4)), epochs=2, verbose=0)
    check_save_load_export(model, x, tmp_path)
