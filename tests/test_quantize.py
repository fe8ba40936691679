"""int8 inference: the u8 x s8 GEMM against exact int64 NumPy, dynamic row quantization and the quantized
dense forward against a NumPy emulation (bitwise), and fastnn.optimize.quantize_dynamic on whole models."""
import pickle

import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.layers import Activation, Dense, QuantizedDense
from fastnn.ops.nn import ACTIVATIONS
from fastnn.optimize import quantize_dynamic

from test_gemm import check_guards, guarded_output

# 1, primes, the 4-byte step and 16-column panel +-1, the 64-column group +-1, the row tiles (4 AVX2 and
# portable, 6 VNNI) +-1, empty sides, and shapes that split across two threads.
SHAPES = [(1, 1, 1), (1, 784, 1024), (2, 3, 5), (3, 4, 15), (4, 5, 16), (5, 7, 17), (6, 13, 63), (7, 64, 64),
          (13, 65, 65), (12, 63, 130), (1, 1024, 10), (64, 257, 129), (31, 128, 300), (0, 5, 3), (3, 0, 5),
          (3, 5, 0)]


def qgemm_operands(rng, m, k, n, a_max=255):
    a = rng.integers(0, a_max + 1, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    return a, b


def exact_product(a, b):
    return a.astype(np.int64) @ b.astype(np.int64)


@pytest.mark.parametrize("a_7bit", [False, True])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_qgemm_is_exact(simd, nthreads, rng, m, k, n, a_7bit):
    a, b = qgemm_operands(rng, m, k, n, 127 if a_7bit else 255)
    c = _C.qgemm_u8s8(a, _C.qgemm_pack(b), n, a_7bit)
    assert c.dtype == np.int32 and c.shape == (m, n)
    np.testing.assert_array_equal(c, exact_product(a, b))
    np.testing.assert_array_equal(_C.qgemm_u8s8_ref(a, b), exact_product(a, b))


@pytest.mark.parametrize("b_value", [127, -128])
def test_qgemm_extremes_do_not_saturate(simd, b_value):
    """255 * 127 * 2 overflows int16 (AVX2's vpmaddubsw would saturate); the largest k fills int32."""
    for k, n in [(64, 33), (_C.QGEMM_MAX_K, 16)]:
        a = np.full((2, k), 255, np.uint8)
        b = np.full((k, n), b_value, np.int8)
        np.testing.assert_array_equal(_C.qgemm_u8s8(a, _C.qgemm_pack(b), n), exact_product(a, b))
    a7 = np.full((5, 96), 127, np.uint8)
    b = np.full((96, 20), b_value, np.int8)
    np.testing.assert_array_equal(_C.qgemm_u8s8(a7, _C.qgemm_pack(b), 20, True), exact_product(a7, b))


def test_qgemm_refuses_bad_input(rng):
    a, b = qgemm_operands(rng, 3, 8, 5)
    packed = _C.qgemm_pack(b)
    with pytest.raises(TypeError, match="uint8"):
        _C.qgemm_u8s8(a.astype(np.int8), packed, 5)
    with pytest.raises(TypeError, match="int8"):
        _C.qgemm_pack(b.astype(np.float32))
    with pytest.raises(ValueError, match="packed"):
        _C.qgemm_u8s8(a, packed, 17)
    with pytest.raises(ValueError, match="above 127"):
        _C.qgemm_u8s8(np.full((1, 8), 200, np.uint8), packed, 5, True)
    with pytest.raises(ValueError, match="at most 65536"):
        _C.qgemm_pack(np.zeros((_C.QGEMM_MAX_K + 1, 1), np.int8))


# ------------------------------------------------------------------------------ NumPy emulation

def quantize_rows_np(x, levels):
    """fnn_quantize_rows_u8 in float32 NumPy (finite rows)."""
    lo = np.minimum(x.min(axis=1, initial=0), 0).astype(np.float32)
    hi = np.maximum(x.max(axis=1, initial=0), 0).astype(np.float32)
    scale = (hi - lo) / np.float32(levels)
    zero = np.minimum(np.float32(levels), np.rint(-lo / np.where(scale > 0, scale, 1)))
    scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(x / scale[:, None]) + zero[:, None], 0, levels).astype(np.uint8)
    return q, scale, zero.astype(np.int32)


def qdense_np(x, kernel_q, w_scale, bias, levels):
    q, scale, zero = quantize_rows_np(x, levels)
    centred = exact_product(q, kernel_q) - zero[:, None].astype(np.int64) * kernel_q.astype(np.int64).sum(0)
    y = centred.astype(np.float32) * (scale[:, None] * w_scale[None, :])
    return y if bias is None else y + bias


def test_quantize_rows_matches_numpy(rng):
    x = rng.standard_normal((9, 37)).astype(np.float32)
    x[1] = 0                       # all zero: scale 1, zero point 0
    x[2] = np.abs(x[2]) + 1        # all positive: zero point 0
    x[3] = -np.abs(x[3]) - 1       # all negative: zero point = levels
    x[4, :] = 0.5                  # constant
    for levels in (255, 127):
        q, scale, zero = _C.quantize_rows_u8(x, levels)
        q_np, scale_np, zero_np = quantize_rows_np(x, levels)
        np.testing.assert_array_equal(q, q_np)
        np.testing.assert_array_equal(scale, scale_np)
        np.testing.assert_array_equal(zero, zero_np)
        assert q.max() <= levels


def test_quantize_rows_marks_nonfinite_rows(rng):
    x = rng.standard_normal((4, 10)).astype(np.float32)
    x[1, 3], x[2, 0], x[3, 9] = np.nan, np.inf, -np.inf
    _, scale, _ = _C.quantize_rows_u8(x)
    assert np.isfinite(scale[0]) and np.all(np.isnan(scale[1:]))


@pytest.mark.parametrize("reduce_range", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 784, 1024), (5, 7, 17), (13, 65, 65), (64, 257, 129), (0, 4, 3)])
def test_qdense_forward_is_bitwise_numpy(simd, nthreads, rng, m, k, n, reduce_range):
    x = rng.standard_normal((m, k)).astype(np.float32)
    kernel_q = rng.integers(-127, 128, (k, n), dtype=np.int8)
    w_scale = (rng.random(n) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    buf, y = guarded_output(rng, m, n)
    q = np.empty((m, (k + 3) // 4 * 4), np.uint8)
    _C.qdense_forward(x, _C.qgemm_pack(kernel_q), kernel_q.sum(0, dtype=np.int32), w_scale, bias, 0, 0.0,
                      reduce_range, y, q, np.empty(m, np.float32), np.empty(m, np.int32))
    check_guards(buf, m, n)
    np.testing.assert_array_equal(y, qdense_np(x, kernel_q, w_scale, bias, 127 if reduce_range else 255))


def test_qdense_forward_refuses_bad_input(rng):
    x = rng.standard_normal((2, 8)).astype(np.float32)
    kernel_q = rng.integers(-127, 128, (8, 5), dtype=np.int8)
    args = [x, _C.qgemm_pack(kernel_q), kernel_q.sum(0, dtype=np.int32), np.ones(5, np.float32), None, 0, 0.0,
            False, np.empty((2, 5), np.float32), np.empty((2, 8), np.uint8), np.empty(2, np.float32),
            np.empty(2, np.int32)]
    _C.qdense_forward(*args)
    for index, bad, error in [(0, x.astype(np.float64), TypeError), (8, np.empty((2, 6), np.float32), ValueError),
                              (9, np.empty((2, 7), np.uint8), ValueError), (5, ACTIVATIONS.index("softmax"), ValueError),
                              (1, _C.qgemm_pack(kernel_q[:4]), ValueError), (8, args[0], ValueError)]:
        with pytest.raises(error):
            _C.qdense_forward(*(args[:index] + [bad] + args[index + 1:]))


# ------------------------------------------------------------------------------ models

def mlp(rng, sizes=(784, 256, 128, 10), activations=("relu", "relu", None)):
    fastnn.set_seed(0)
    model = fastnn.Sequential([Dense(sizes[1], activation=activations[0], input_dim=sizes[0])] +
                              [Dense(units, activation=act) for units, act in zip(sizes[2:], activations[1:])])
    x = rng.random((64, sizes[0])).astype(np.float32)
    return model, x


def relative_error(y, reference):
    return np.abs(y - reference).max() / np.abs(reference).max()


def test_quantize_dynamic_mlp_within_two_percent(rng):
    model, x = mlp(rng)
    quantized = quantize_dynamic(model)
    assert [type(layer).__name__ for layer in quantized.layers] == ["QuantizedDense"] * 3
    assert relative_error(quantized.predict(x, verbose=0), model.predict(x, verbose=0)) < 0.02
    seven_bit = quantize_dynamic(model, reduce_range=True)
    assert relative_error(seven_bit.predict(x, verbose=0), model.predict(x, verbose=0)) < 0.04
    assert model.layers[0].kernel.dtype == np.float32 and quantized.layers[0].kernel.dtype == np.int8


def test_quantized_kernel_dequantizes_to_the_float_kernel(rng):
    model, _ = mlp(rng)
    dense, layer = model.layers[0], quantize_dynamic(model).layers[0]
    dequantized = layer.kernel.astype(np.float32) * layer.kernel_scale
    assert np.all(np.abs(dequantized - dense.kernel) <= layer.kernel_scale * (0.5 + 1e-4))  # + float32 rounding
    assert np.abs(layer.kernel).max() == 127


def assert_batch_invariant(model, x, alone):
    """model.predict(x) bitwise the same on 1 and 2 threads, for the rows `alone` predicted alone, and for x
    reversed."""
    with fastnn.threads(1):
        batch = model.predict(x, verbose=0)
    with fastnn.threads(2):
        np.testing.assert_array_equal(model.predict(x, verbose=0), batch)
        for i in alone:
            np.testing.assert_array_equal(model.predict(x[i:i + 1], verbose=0)[0], batch[i])
        np.testing.assert_array_equal(model.predict(x[::-1], verbose=0), batch[::-1])


def test_row_alone_equals_row_in_batch(simd, rng):
    model, x = mlp(rng, sizes=(50, 70, 20, 3), activations=("tanh", "relu", "softmax"))
    assert_batch_invariant(quantize_dynamic(model), x, (0, 17, 63))


def predict_on_every_simd_path(model, x):
    """model.predict(x) on each SIMD path this CPU has (the path in force restored after)."""
    outputs = []
    for path in [p for p in _C.SIMD_PATHS if _C.cpu_supports(p)]:
        previous = _C.simd_get()
        _C.simd_set(path)
        try:
            outputs.append(model.predict(x, verbose=0))
        finally:
            _C.simd_set(previous)
    return outputs


def assert_same_bits_on_every_simd_path(model, x):
    """model.predict(x) is bitwise the same on every SIMD path this CPU has."""
    outputs = predict_on_every_simd_path(model, x)
    for y in outputs[1:]:
        np.testing.assert_array_equal(y, outputs[0])


def test_every_simd_path_gives_the_same_bits(rng):
    model, x = mlp(rng, sizes=(33, 65, 17, 5), activations=("gelu", "sigmoid", None))
    assert_same_bits_on_every_simd_path(quantize_dynamic(model), x)


def test_nan_in_gives_nan_out(rng):
    model, x = mlp(rng, sizes=(20, 30, 4), activations=("relu", None))
    quantized = quantize_dynamic(model)
    clean = quantized.predict(x[:3], verbose=0)
    x = x[:3].copy()
    x[1, 5] = np.nan
    y = quantized.predict(x, verbose=0)
    assert np.all(np.isnan(y[1]))
    np.testing.assert_array_equal(y[[0, 2]], clean[[0, 2]])


def test_save_load_and_pickle_round_trip(tmp_path, rng):
    inputs = fastnn.Input(shape=(12,))
    hidden = Dense(16, activation="relu")(inputs)
    inner = fastnn.Sequential([Dense(8, activation="elu", input_dim=16), Dense(5, use_bias=False)])
    outputs = Activation("softmax")(inner(hidden))
    model = fastnn.Model(inputs, outputs)
    x = rng.standard_normal((9, 12)).astype(np.float32)
    quantized = quantize_dynamic(model, reduce_range=True)
    expected = quantized.predict(x, verbose=0)
    assert np.allclose(expected.sum(axis=1), 1, atol=1e-5)
    path = tmp_path / "int8.fnn"
    quantized.save(path)
    loaded = fastnn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    restored = pickle.loads(pickle.dumps(quantized))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    inner_layers = restored.layers[2].layers
    assert isinstance(inner_layers[0], QuantizedDense) and inner_layers[0].reduce_range
    assert inner_layers[0].kernel.dtype == np.int8 and inner_layers[1].bias is None
    for a, b in zip(restored.get_weights(), quantized.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_quantized_dense_layer_config_and_weights(rng):
    layer = QuantizedDense(6, activation="relu", input_dim=10, name="q")
    model = fastnn.Sequential([layer])
    assert layer.count_params() == 10 * 6 + 6 + 6 and not layer.trainable_weights
    config = layer.get_config()
    assert config["reduce_range"] is False and config["units"] == 6
    assert QuantizedDense.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="integers in"):
        model.set_weights([np.full((10, 6), 0.5), np.ones(6), np.zeros(6)])
    with pytest.raises(ValueError, match="integers in"):
        layer.set_weights([np.full((10, 6), 300), np.ones(6), np.zeros(6)])
    kernel = rng.integers(-127, 128, (10, 6))
    model.set_weights([kernel, np.full(6, 0.5), np.zeros(6)])
    x = rng.standard_normal((3, 10)).astype(np.float32)
    expected = np.maximum(qdense_np(x, kernel.astype(np.int8), np.full(6, 0.5, np.float32), None, 255), 0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_bad_models_and_inputs_are_refused(rng):
    with pytest.raises(TypeError, match="fastnn model"):
        quantize_dynamic(Dense(3))
    with pytest.raises(ValueError, match="not built"):
        quantize_dynamic(fastnn.Sequential([Dense(3)]))
    model, x = mlp(rng, sizes=(8, 4, 2), activations=("relu", None))
    kernel = model.layers[0].kernel.copy()
    kernel[0, 0] = np.nan
    model.layers[0].set_weights([kernel, model.layers[0].bias])
    with pytest.raises(ValueError, match="NaN or infinity"):
        quantize_dynamic(model)
    model, x = mlp(rng, sizes=(8, 4, 2), activations=("relu", None))
    quantized = quantize_dynamic(model)
    with pytest.raises(ValueError, match="last dimension 8"):
        quantized.predict(np.ones((2, 9), np.float32), verbose=0)
    inputs = fastnn.Input(shape=(8,))
    trained_below = fastnn.Model(inputs, QuantizedDense(2)(Dense(4)(inputs)))
    trained_below.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="inference only"):
        trained_below.fit(x, np.ones((64, 2), np.float32), epochs=1, verbose=0)


def test_layers_inside_wrappers_stay_float_with_a_warning():
    model = fastnn.Sequential([fastnn.layers.Input((3, 2)),
                               fastnn.layers.Bidirectional(fastnn.layers.LSTM(4), name="bi"),
                               fastnn.layers.Dense(2)])
    with pytest.warns(UserWarning, match="wrappers bi stay float32"):
        quantized = quantize_dynamic(model)
    assert [type(layer).__name__ for layer in quantized.layers][-2:] == ["Bidirectional", "QuantizedDense"]


@pytest.mark.parametrize("tensor, value", [(0, -128), (1, 0.0), (1, -1.0), (1, np.inf), (1, np.nan), (1, 1e38),
                                           (3, 0.0), (2, -128)])
def test_weights_file_with_int8_values_quantize_kernel_never_makes_is_refused(tmp_path, tensor, value):
    from safetensors.numpy import load_file, save_file
    model = quantize_dynamic(fastnn.Sequential([fastnn.layers.Input((2, 3)), fastnn.layers.LSTM(4)]))
    path = tmp_path / "weights.safetensors"
    fastnn.saving.save_weights(model, path)
    tensors = load_file(path)
    tensors[f"weights/{tensor}"].flat[0] = value  # kernel, kernel_scale, recurrent_kernel, recurrent_scale
    save_file(tensors, path)
    with pytest.raises(fastnn.saving.ModelFileError, match="kernel|scale"):
        fastnn.saving.load_weights(model, path)
