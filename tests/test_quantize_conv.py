"""int8 convolutions: the blocked patch kernel (qconv2d_forward) bitwise against a NumPy im2col emulation,
and quantize_dynamic on convolutional models (accuracy against float32, batch invariance, threads, SIMD
paths, saving)."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.layers import (Conv1D, Conv2D, Dense, DepthwiseConv2D, Flatten, GlobalAveragePooling1D,
                           GlobalAveragePooling2D, MaxPooling2D, QuantizedConv1D, QuantizedConv2D)
from fastnn.ops.conv import ConvGeometry
from fastnn.optimize import quantize_dynamic

from test_gemm import check_guards, guarded_output
from test_quantize import assert_batch_invariant, assert_same_bits_on_every_simd_path, qdense_np, relative_error


def patches_np(x, kernel_hw, geometry, out_hw):
    """im2col of x (n, h, w, c): (n * out_h * out_w, kh * kw * c) rows in the kernel's (kh, kw, c) order."""
    (kh, kw), (sh, sw, dh, dw, top, left, _) = kernel_hw, geometry
    n, h, w, c = x.shape
    padded = np.zeros((n, h + top + (out_hw[0] - 1) * sh + (kh - 1) * dh + 1,
                       w + left + (out_hw[1] - 1) * sw + (kw - 1) * dw + 1, c), np.float32)
    padded[:, top:top + h, left:left + w] = x
    taps = [padded[:, i * dh:i * dh + (out_hw[0] - 1) * sh + 1:sh, j * dw:j * dw + (out_hw[1] - 1) * sw + 1:sw]
            for i in range(kh) for j in range(kw)]
    return np.stack(taps, axis=3).reshape(n * out_hw[0] * out_hw[1], kh * kw * c)


def qconv_operands(rng, n, hw, c, f, kernel_hw, strides=1, padding="valid", dilation=1):
    geometry = ConvGeometry(hw, kernel_hw, strides, padding, dilation, 1, "test")
    x = rng.standard_normal((n,) + hw + (c,)).astype(np.float32)
    kernel = rng.integers(-127, 128, (kernel_hw[0] * kernel_hw[1] * c, f), dtype=np.int8)
    return x, kernel, geometry


# 1 x 1 (rows read in place), same and valid padding, strides, dilation, a one-row (1-D) image, and a
# patch of 576 inputs whose 484 output pixels take two blocks
CASES = [(2, (5, 6), 3, 7, (1, 1), 1, "valid", 1), (3, (7, 7), 2, 17, (3, 3), 1, "same", 1),
         (2, (9, 8), 5, 16, (3, 2), 2, "same", 1), (1, (10, 11), 4, 5, (3, 3), 1, "valid", 2),
         (2, (1, 23), 6, 9, (1, 5), 1, "same", 1), (1, (24, 24), 64, 33, (3, 3), 1, "valid", 1),
         (0, (4, 4), 2, 3, (3, 3), 1, "same", 1)]


@pytest.mark.parametrize("reduce_range", [False, True])
@pytest.mark.parametrize("n,hw,c,f,kernel_hw,strides,padding,dilation", CASES)
def test_qconv2d_forward_is_bitwise_im2col_numpy(simd, nthreads, rng, n, hw, c, f, kernel_hw, strides, padding,
                                                 dilation, reduce_range):
    x, kernel, geometry = qconv_operands(rng, n, hw, c, f, kernel_hw, strides, padding, dilation)
    w_scale = (rng.random(f) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(f).astype(np.float32)
    out_h, out_w = geometry.out_hw
    rows, k = n * out_h * out_w, kernel.shape[0]
    buf, y2 = guarded_output(rng, rows, f)
    y = y2.reshape(n, out_h, out_w, f)
    block = _C.qconv2d_block_rows(x.shape, kernel_hw, f, y.shape, geometry.args)
    assert block == min(rows, max(262144 // k // 12, 1) * 12)
    _C.qconv2d_forward(x, kernel_hw, _C.qgemm_pack(kernel), kernel.sum(0, dtype=np.int32), w_scale, bias,
                       geometry.args, 0, 0.0, reduce_range, y, np.empty((block, k), np.float32),
                       np.empty((block, (k + 3) // 4 * 4), np.uint8), np.empty(block, np.float32),
                       np.empty(block, np.int32))
    check_guards(buf, rows, f)
    expected = qdense_np(patches_np(x, kernel_hw, geometry.args, (out_h, out_w)), kernel, w_scale, bias,
                         127 if reduce_range else 255)
    np.testing.assert_array_equal(y2, expected)


def test_qconv2d_forward_refuses_bad_input(rng):
    x, kernel, geometry = qconv_operands(rng, 2, (6, 6), 3, 4, (3, 3))
    block, k = 32, 27
    args = [x, (3, 3), _C.qgemm_pack(kernel), kernel.sum(0, dtype=np.int32), np.ones(4, np.float32), None,
            geometry.args, 0, 0.0, False, np.empty((2, 4, 4, 4), np.float32), np.empty((block, k), np.float32),
            np.empty((block, 28), np.uint8), np.empty(block, np.float32), np.empty(block, np.int32)]
    _C.qconv2d_forward(*args)
    grouped = geometry.args[:6] + (3,)
    for index, bad, error in [(0, x.astype(np.float64), TypeError), (10, np.empty((2, 5, 4, 4), np.float32), ValueError),
                              (11, np.empty((block - 1, k), np.float32), ValueError), (6, grouped, ValueError),
                              (1, (3, 2), ValueError), (10, x, ValueError)]:
        with pytest.raises(error):
            _C.qconv2d_forward(*(args[:index] + [bad] + args[index + 1:]))


# ------------------------------------------------------------------------------ models

def small_cnn():
    """A small image classifier as one trains them: convolutions, pooling, a depthwise stage (stays
    float32), a pointwise convolution and a dense head."""
    fastnn.set_seed(0)
    return fastnn.Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(2),
        Conv2D(32, 3, activation="relu"), MaxPooling2D(2), DepthwiseConv2D(3, padding="same"),
        Conv2D(48, 1, activation="relu"), Conv2D(32, 2, strides=2, dilation_rate=1), Flatten(),
        Dense(64, activation="relu"), Dense(10, activation="softmax")])


def image_batch(rng, n):
    """Images as digits look: smooth blobs of ink on zeros."""
    base = rng.random((n, 7, 7, 1)).astype(np.float32)
    return np.clip(np.kron(base, np.ones((1, 4, 4, 1), np.float32)) * 1.5 - 0.5, 0, 1)


def sequence_cnn():
    fastnn.set_seed(0)
    return fastnn.Sequential([Conv1D(24, 5, padding="causal", activation="relu", input_shape=(50, 8)),
                              Conv1D(32, 3, strides=2, dilation_rate=1, activation="relu"),
                              Conv1D(16, 3, padding="same", dilation_rate=2), GlobalAveragePooling1D(), Dense(3)])


def test_cnn_within_two_percent_of_float(rng):
    model = small_cnn()
    quantized = quantize_dynamic(model)
    kinds = [type(layer).__name__ for layer in quantized.layers]
    assert kinds.count("QuantizedConv2D") == 4 and "DepthwiseConv2D" in kinds and kinds.count("QuantizedDense") == 2
    x = image_batch(rng, 32)
    assert relative_error(quantized.predict(x, verbose=0), model.predict(x, verbose=0)) < 0.02
    seq = sequence_cnn()
    xs = rng.standard_normal((16, 50, 8)).astype(np.float32)
    assert [type(layer).__name__ for layer in quantize_dynamic(seq).layers][:3] == ["QuantizedConv1D"] * 3
    assert relative_error(quantize_dynamic(seq).predict(xs, verbose=0), seq.predict(xs, verbose=0)) < 0.02


def test_grouped_convolutions_stay_float(rng):
    fastnn.set_seed(0)
    model = fastnn.Sequential([Conv2D(8, 3, groups=2, input_shape=(6, 6, 4)), GlobalAveragePooling2D()])
    quantized = quantize_dynamic(model)
    assert type(quantized.layers[0]).__name__ == "Conv2D"
    x = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    np.testing.assert_array_equal(quantized.predict(x, verbose=0), model.predict(x, verbose=0))


def test_image_alone_equals_image_in_batch_on_every_thread_count(simd, rng):
    assert_batch_invariant(quantize_dynamic(small_cnn()), image_batch(rng, 9), (0, 4, 8))


def test_every_simd_path_gives_the_same_bits(rng):
    x = rng.standard_normal((4, 50, 8)).astype(np.float32)
    assert_same_bits_on_every_simd_path(quantize_dynamic(sequence_cnn()), x)


def test_nan_in_a_patch_gives_nan_only_where_it_reaches(rng):
    fastnn.set_seed(0)
    model = fastnn.Sequential([Conv2D(3, 3, padding="same", input_shape=(8, 8, 2))])
    quantized = quantize_dynamic(model)
    x = rng.standard_normal((2, 8, 8, 2)).astype(np.float32)
    clean = quantized.predict(x, verbose=0)
    x[0, 4, 4, 1] = np.nan
    y = quantized.predict(x, verbose=0)
    assert np.all(np.isnan(y[0, 3:6, 3:6])) and np.isnan(y).sum() == 9 * 3
    np.testing.assert_array_equal(y[1], clean[1])


def test_save_load_and_layer_config(tmp_path, rng):
    quantized = quantize_dynamic(sequence_cnn(), reduce_range=True)
    x = rng.standard_normal((3, 50, 8)).astype(np.float32)
    expected = quantized.predict(x, verbose=0)
    quantized.save(tmp_path / "int8_cnn.fnn")
    loaded = fastnn.load_model(tmp_path / "int8_cnn.fnn")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    layer = loaded.layers[0]
    assert isinstance(layer, QuantizedConv1D) and layer.reduce_range and layer.padding == "causal"
    assert layer.kernel.dtype == np.int8 and layer.kernel.shape == (5, 8, 24) and not layer.trainable_weights
    config = layer.get_config()
    assert QuantizedConv1D.from_config(config).get_config() == config
    conv = QuantizedConv2D(4, 3, strides=2, padding="same", activation="relu", name="q")
    assert QuantizedConv2D.from_config(conv.get_config()).get_config() == conv.get_config()


def test_quantized_conv_is_inference_only(rng):
    inputs = fastnn.Input(shape=(6, 6, 2))
    model = fastnn.Model(inputs, Flatten()(QuantizedConv2D(2, 3)(Conv2D(2, 1)(inputs))))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="inference only"):
        model.fit(rng.standard_normal((4, 6, 6, 2)).astype(np.float32), np.ones((4, 32), np.float32), epochs=1,
                  verbose=0)
