"""LayerNormalization: its kernels against float64 NumPy, finite differences and PyTorch under every
SIMD path and 1 and 2 threads (bitwise), and the layer's Keras semantics, files and ONNX export."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn import layers as L

import reference as ref
from layer_helpers import check_layer, check_save_load_export

SHAPES = [(1, 1), (1, 7), (3, 8), (5, 63), (4, 64), (2, 65), (17, 129), (2, 3, 31)]


def _guarded(shape):
    """A float32 array of shape inside a buffer with NaN guards on each side: (array, buffer)."""
    buffer = np.full(int(np.prod(shape)) + 8, np.nan, np.float32)
    return buffer[4:-4].reshape(shape), buffer


@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_against_float64_with_guards(shape, simd, nthreads):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 2 + 300).astype(np.float32)  # a large mean: two passes keep the digits
    dy = rng.standard_normal(shape).astype(np.float32)
    c, rows = shape[-1], int(np.prod(shape[:-1]))
    gamma, beta = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    y, y_buffer = _guarded((rows, c))
    dx, dx_buffer = _guarded((rows, c))
    (dgamma, dg_buffer), (dbeta, db_buffer) = _guarded((c,)), _guarded((c,))
    mean, invstd = np.empty(rows, np.float32), np.empty(rows, np.float32)
    _C.layer_norm_forward(x.reshape(rows, c), gamma, beta, 1e-3, y, mean, invstd)
    _C.layer_norm_backward(x.reshape(rows, c), dy.reshape(rows, c), gamma, mean, invstd, dx, dgamma, dbeta)
    y_ref, mean_ref, var_ref = ref.layer_norm(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(y.reshape(shape), y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, mean_ref.reshape(-1), rtol=1e-7)
    np.testing.assert_allclose(invstd, (1 / np.sqrt(var_ref + 1e-3)).reshape(-1), rtol=1e-6)
    for mine, theirs in zip((dx.reshape(shape), dgamma, dbeta), ref.layer_norm_grad(x, dy, gamma, 1e-3)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
    for buffer in (y_buffer, dx_buffer, dg_buffer, db_buffer):
        assert np.isnan(buffer[:4]).all() and np.isnan(buffer[-4:]).all()


def test_without_gamma_and_beta(rng):
    x = rng.standard_normal((6, 10)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y, mean, invstd = fastnn.ops.layer_norm(x, epsilon=1e-5)
    np.testing.assert_allclose(y, ref.layer_norm(x, None, None, 1e-5)[0], rtol=1e-5, atol=1e-5)
    dx, dgamma, dbeta = fastnn.ops.layer_norm_backward(x, dy, None, mean, invstd)
    for mine, theirs in zip((dx, dgamma, dbeta), ref.layer_norm_grad(x, dy, None, 1e-5)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)


def test_finite_differences(rng):
    x = rng.standard_normal((3, 2, 5)) * 2
    gamma, beta, probe = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal((3, 2, 5))

    def objective():
        return float(np.sum(np.tanh(ref.layer_norm(x, gamma, beta, 1e-3)[0]) * probe))

    _, mean, invstd = fastnn.ops.layer_norm(x, gamma, beta)
    dy = probe * (1 - np.tanh(ref.layer_norm(x, gamma, beta, 1e-3)[0]) ** 2)
    grads = fastnn.ops.layer_norm_backward(x, dy, gamma, mean, invstd)
    for grad, numeric in zip(grads, ref.numeric_gradients(objective, [x, gamma, beta])):
        np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("eps", [1e-3, 1e-5])
def test_matches_torch(rng, eps):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 5, 33)).astype(np.float32)
    gamma, beta = rng.standard_normal(33).astype(np.float32), rng.standard_normal(33).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    gt = torch.tensor(gamma.astype(np.float64), requires_grad=True)
    bt = torch.tensor(beta.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.layer_norm(xt, (33,), gt, bt, eps=eps)  # torch's default eps is 1e-5, Keras's 1e-3
    yt.backward(torch.tensor(dy.astype(np.float64)))
    y, mean, invstd = fastnn.ops.layer_norm(x, gamma, beta, epsilon=eps)
    grads = fastnn.ops.layer_norm_backward(x, dy, gamma, mean, invstd)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(grads, (xt.grad, gt.grad, bt.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-4, atol=1e-4)


def test_threads_and_batch_do_not_change_bits(simd, rng):
    x = rng.standard_normal((300, 257)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    gamma, beta = rng.standard_normal(257).astype(np.float32), rng.standard_normal(257).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            y, mean, invstd = fastnn.ops.layer_norm(x, gamma, beta)
            results.append((y, mean, invstd, *fastnn.ops.layer_norm_backward(x, dy, gamma, mean, invstd)))
    for one, two in zip(*results):
        assert np.array_equal(one, two)
    one_row = fastnn.ops.layer_norm(x[117:118], gamma, beta)[0]
    assert np.array_equal(one_row[0], results[0][0][117])


def test_nan_stays_in_its_row(rng):
    x = rng.standard_normal((3, 8)).astype(np.float32)
    x[1, 4] = np.nan
    y = fastnn.ops.layer_norm(x)[0]
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()


def test_op_errors():
    with pytest.raises(ValueError, match="layer_norm"):
        fastnn.ops.layer_norm(np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="gamma"):
        fastnn.ops.layer_norm(np.zeros((2, 4), np.float32), np.ones(3))
    with pytest.raises(ValueError, match="epsilon"):
        fastnn.ops.layer_norm(np.zeros((2, 4), np.float32), epsilon=-1.0)
    with pytest.raises(TypeError, match="epsilon"):
        fastnn.ops.layer_norm(np.zeros((2, 4), np.float32), epsilon="small")


@pytest.mark.parametrize("kwargs, input_shape, params", [
    ({}, (3, 7), 14),
    ({"axis": [-2, -1], "center": False}, (2, 3, 5), 15),
    ({"axis": [2, 1], "scale": False}, (2, 3, 5), 15),
    ({"axis": 2, "epsilon": 1e-5}, (2, 4, 6), 12),
])
def test_layer(kwargs, input_shape, params):
    layer = L.LayerNormalization(**kwargs, beta_initializer="random_normal", gamma_initializer="random_normal")
    y = check_layer(layer, input_shape, input_shape, params)
    gamma = layer.gamma if layer.scale else None
    beta = layer.beta if layer.center else None
    k = len(layer.weight_shapes((None,) + input_shape[1:])[0])
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    x[np.abs(x) < 0.05] += 0.1  # as check_layer draws it
    flat = x.reshape(input_shape[:-k] + (-1,))
    expected = ref.layer_norm(flat, None if gamma is None else gamma.reshape(-1),
                              None if beta is None else beta.reshape(-1), layer.epsilon)[0]
    np.testing.assert_allclose(y, expected.reshape(input_shape), rtol=1e-5, atol=1e-5)


def test_layer_by_hand():
    """Keras 3 gives (x - 2) / sqrt(2/3 + 1e-3) = [[-1.2238274, 0, 1.2238274]] for LayerNormalization() on
    [[1, 2, 3]] (epsilon 1e-3 inside the square root)."""
    y = L.LayerNormalization()(np.array([[1.0, 2.0, 3.0]], np.float32))
    np.testing.assert_allclose(y, [[-1.2238274, 0.0, 1.2238274]], rtol=1e-6)


@pytest.mark.parametrize("kwargs, error", [
    ({"axis": 1}, ValueError), ({"axis": [0, 2]}, ValueError), ({"axis": [1, 1]}, ValueError),
    ({"axis": 3}, ValueError),
])
def test_refuses_axes_it_cannot_do(kwargs, error):
    with pytest.raises(error, match="LayerNormalization"):
        fastnn.Sequential([fastnn.Input((3, 4)), L.LayerNormalization(**kwargs)])


@pytest.mark.parametrize("kwargs, error", [
    ({"axis": "last"}, TypeError), ({"axis": 1.5}, TypeError), ({"epsilon": 0}, ValueError),
    ({"epsilon": "1e-3"}, TypeError), ({"rms_scaling": True}, ValueError), ({"gamma_constraint": "non_neg"}, ValueError),
])
def test_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error, match="LayerNormalization"):
        L.LayerNormalization(**kwargs)


def test_in_a_model_trains_saves_loads_and_passes_masks(tmp_path, rng):
    inputs = fastnn.Input((5, 4))
    masked = L.Masking()(inputs)
    y = L.LayerNormalization(gamma_regularizer="l2")(L.Dense(6)(masked))
    model = fastnn.Model(inputs, L.LSTM(3)(y))
    model.compile("adam", "mse")
    x = rng.standard_normal((32, 5, 4)).astype(np.float32)
    x[:, 3:] = 0.0
    history = model.fit(x, rng.standard_normal((32, 3)), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    mask = np.ones((1, 5), bool)
    assert L.LayerNormalization().compute_mask(None, mask) is mask
    check_save_load_export(model, x, tmp_path)


def test_export(tmp_path):
    pytest.importorskip("onnxruntime")
    model = fastnn.Sequential([fastnn.Input((4, 6)), L.Dense(6), L.LayerNormalization(axis=[-2, -1], center=False),
                               L.LayerNormalization(scale=False, beta_initializer="random_normal"),
                               L.LayerNormalization(epsilon=1e-5)])
    report = model.export(tmp_path / "m.onnx")
    assert all(diff <= 1e-5 for diff in report.values()), report
