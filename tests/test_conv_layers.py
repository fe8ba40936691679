"""Convolution layers (Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose): outputs
against the float64 direct loops of tests/reference.py with Keras's geometry, weight layouts, backward
by finite differences (layer and whole model), fused activations, batch invariance, files and errors."""
import numpy as np
import pytest

import fastnn
import reference as ref
from fastnn.layers import (Activation, BatchNormalization, Conv1D, Conv2D, Conv2DTranspose, Dense, DepthwiseConv2D,
                           GlobalAveragePooling2D, MaxPooling2D, SeparableConv2D)
from layer_helpers import check_layer


def _pads(in_hw, kernel, strides, dilation, padding):
    return [ref.keras_window(in_hw[a], (kernel[a] - 1) * dilation[a] + 1, strides[a], padding) for a in range(2)]


def conv_reference(x, kernel, bias, strides, dilation, padding, groups=1):
    axes = _pads(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    return ref.conv2d(x, kernel, bias, strides, dilation, (axes[0][1], axes[1][1]), groups,
                      (axes[0][0], axes[1][0]))


def _run(layer, x):
    layer(x)
    rng = np.random.default_rng(5)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()])
    return layer(x).astype(np.float64), [w.astype(np.float64) for w in layer.get_weights()]


CONV2D_CASES = [
    dict(filters=5, kernel_size=3, padding="same"),
    dict(filters=4, kernel_size=(3, 2), strides=(2, 3), padding="valid"),
    dict(filters=3, kernel_size=3, strides=2, padding="same", activation="relu"),
    dict(filters=4, kernel_size=3, dilation_rate=(2, 1), padding="same", activation="tanh"),
    dict(filters=6, kernel_size=3, groups=2, padding="same", use_bias=False),
    dict(filters=2, kernel_size=1),
]


@pytest.mark.parametrize("kwargs", CONV2D_CASES)
def test_conv2d_matches_the_direct_loop(kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 9, 4)).astype(np.float32)
    y, weights = _run(Conv2D(**kwargs), x)
    layer = Conv2D(**kwargs)
    strides = layer.strides
    expected = conv_reference(x, weights[0], weights[1] if layer.use_bias else None, strides, layer.dilation_rate,
                              layer.padding, layer.groups)
    expected = ref.nn_activation(expected, kwargs.get("activation") or "linear")
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=ref.conv_tolerance(9 * 4, 3))


@pytest.mark.parametrize("padding, strides, dilation", [("causal", 1, 2), ("same", 2, 1), ("valid", 3, 1)])
def test_conv1d_matches_the_direct_loop(padding, strides, dilation):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 11, 3)).astype(np.float32)
    y, (kernel, bias) = _run(Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation), x)
    steps, pad = ref.keras_window(11, (3 - 1) * dilation + 1, strides, padding)
    expected = ref.conv2d(x[:, None], kernel[None], bias, (1, strides), (1, dilation), (0, pad), 1, (1, steps))[:, 0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    if padding == "causal":  # no output sees a later step
        x2 = x.copy()
        x2[:, 6:] = 0.0
        layer = Conv1D(4, 3, padding="causal", dilation_rate=dilation)
        layer(x)
        layer.set_weights([kernel, bias])
        np.testing.assert_array_equal(layer(x2)[:, :6], layer(x)[:, :6])


def test_depthwise_and_separable_match_grouped_convolutions():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    y, (dk, bias) = _run(DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), x)
    grouped = dk.reshape(3, 3, 1, 6)
    np.testing.assert_allclose(y, conv_reference(x, grouped, bias, (2, 2), (1, 1), "same", groups=3), atol=1e-5)
    y, (dk, pk, bias) = _run(SeparableConv2D(5, 3, depth_multiplier=2, padding="valid", activation="relu"), x)
    mid = conv_reference(x, dk.reshape(3, 3, 1, 6), None, (1, 1), (1, 1), "valid", groups=3)
    np.testing.assert_allclose(y, np.maximum(ref.conv2d(mid, pk, bias, out_hw=mid.shape[1:3]), 0), atol=1e-5)


@pytest.mark.parametrize("strides, padding, output_padding", [(2, "valid", None), (2, "same", None),
                                                              (2, "same", 1), (1, "valid", None), (3, "valid", 2)])
def test_conv2d_transpose_is_the_adjoint_of_the_convolution(strides, padding, output_padding):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    layer = Conv2DTranspose(4, 3, strides=strides, padding=padding, output_padding=output_padding)
    y, (kernel, bias) = _run(layer, x)
    out_hw = y.shape[1:3]
    pads = [max((x.shape[1 + a] - 1) * strides + 3 - out_hw[a], 0) // 2 if padding == "same" else 0
            for a in range(2)]
    expected = ref.conv2d_data_grad(x, kernel, (2, *out_hw, 4), (strides, strides), (1, 1), pads) + bias
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    if output_padding is None:  # Keras's sizes
        grow = 0 if padding == "same" else max(3 - strides, 0)
        assert out_hw == (4 * strides + grow, 5 * strides + grow)


@pytest.mark.parametrize("layer, input_shape, output_shape, params", [
    (lambda: Conv2D(3, 3, padding="same", activation="elu"), (2, 5, 4, 2), (2, 5, 4, 3), 57),
    (lambda: Conv2D(4, 2, strides=2, groups=2, activation="gelu"), (2, 5, 5, 4), (2, 2, 2, 4), 36),
    (lambda: Conv2D(2, 3, dilation_rate=2, activation="softmax"), (1, 6, 7, 2), (1, 2, 3, 2), 38),
    (lambda: Conv1D(3, 3, padding="causal", activation="tanh"), (2, 6, 2), (2, 6, 3), 21),
    (lambda: DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="sigmoid"), (2, 4, 5, 2),
     (2, 4, 5, 4), 40),
    (lambda: SeparableConv2D(3, 3, strides=2, padding="same", activation="elu"), (2, 5, 5, 2), (2, 3, 3, 3), 27),
    (lambda: Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1, activation="silu"), (2, 3, 2, 2),
     (2, 6, 4, 3), 57),
])
def test_backward_by_finite_differences_and_config_round_trip(layer, input_shape, output_shape, params):
    check_layer(layer(), input_shape, output_shape, params, rtol=3e-2, atol=3e-3)


def test_weight_layouts_and_names_are_keras():
    def shapes(layer, input_shape):
        layer.build(input_shape)
        return [(name, w.shape) for name, w in zip(layer._weight_names, layer.get_weights())]

    assert shapes(Conv2D(8, (3, 5), groups=2), (None, 9, 9, 4)) == [("kernel", (3, 5, 2, 8)), ("bias", (8,))]
    assert shapes(Conv1D(8, 4), (None, 9, 3)) == [("kernel", (4, 3, 8)), ("bias", (8,))]
    depthwise = DepthwiseConv2D(3, depth_multiplier=2)
    assert shapes(depthwise, (None, 9, 9, 3)) == [("kernel", (3, 3, 3, 2)), ("bias", (6,))]
    assert depthwise.depthwise_kernel is depthwise.kernel
    separable = SeparableConv2D(5, 3, depth_multiplier=2, use_bias=False)
    assert shapes(separable, (None, 9, 9, 3)) == [("depthwise_kernel", (3, 3, 3, 2)), ("pointwise_kernel", (1, 1, 6, 5))]
    assert shapes(Conv2DTranspose(5, 3), (None, 4, 4, 3)) == [("kernel", (3, 3, 5, 3)), ("bias", (5,))]
    conv = Conv2D(4, 3)
    assert conv.name.startswith("conv2d") and Conv2DTranspose(2, 2).name.startswith("conv2d_transpose")
    config = conv.get_config()
    assert {k: config[k] for k in ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                                   "activation", "use_bias")} == dict(
        kernel_size=[3, 3], strides=[1, 1], padding="valid", data_format="channels_last", dilation_rate=[1, 1],
        groups=1, activation="linear", use_bias=True)


def test_bad_arguments_are_refused_with_clear_messages():
    with pytest.raises(ValueError, match="channels_last"):
        Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="padding"):
        Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="strides must be >= 1"):
        Conv2D(4, 3, strides=0)
    with pytest.raises(ValueError, match="dilation_rate > 1"):
        Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="groups=3 must divide filters=4"):
        Conv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match="groups=2 must divide the 3 input channels"):
        Conv2D(4, 3, groups=2).build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        Conv2D(4, 5).build((None, 4, 8, 3)) or Conv2D(4, 5).compute_output_shape((None, 4, 8, 3))
    with pytest.raises(ValueError, match="output_padding"):
        Conv2DTranspose(4, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="filters must be a positive int"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="known channel count|needs inputs"):
        Conv2D(4, 3).build((None, 8, 8))
    layer = Conv2D(4, 3)
    layer.build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="3\\), got \\(1, 8, 8, 2\\)"):
        layer(np.zeros((1, 8, 8, 2), np.float32))


def cnn(seed=0):
    fastnn.set_seed(seed)
    return fastnn.Sequential([
        Conv2D(4, 3, padding="same", input_shape=(6, 6, 2)), BatchNormalization(), Activation("relu"),
        MaxPooling2D(), Conv2D(5, 2, activation="tanh"), GlobalAveragePooling2D(), Dense(3)])


def cnn_reference_loss(weights, x, y):
    k1, b1, gamma, beta, _, _, k2, b2, k3, b3 = weights
    h = ref.conv2d(x, k1, b1, pads=(1, 1), out_hw=(6, 6))
    h = np.maximum(ref.batch_norm(h, gamma, beta, 1e-3)[0], 0)
    h = ref.pool2d(h, "max", (2, 2), (2, 2), (0, 0), (3, 3))
    h = np.tanh(ref.conv2d(h, k2, b2, out_hw=(2, 2))).mean(axis=(1, 2))
    return np.mean((h @ k3 + b3 - y) ** 2)


def test_one_sgd_step_of_a_cnn_is_minus_the_finite_difference_gradient():
    model = cnn()
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=1.0), loss="mse")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 6, 6, 2)), rng.standard_normal((6, 3))
    before = [w.astype(np.float64) for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    np.testing.assert_allclose(loss, cnn_reference_loss(before, x, y), rtol=1e-5)
    step = [b - a for b, a in zip(before, model.get_weights())]
    _, mean, var = ref.batch_norm(ref.conv2d(x, before[0], before[1], pads=(1, 1), out_hw=(6, 6)), 1, 0, 1e-3)
    after = model.get_weights()  # the moving statistics are not trained, but the training call moved them
    np.testing.assert_allclose(after[4], 0.99 * before[4] + 0.01 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(after[5], 0.99 * before[5] + 0.01 * var, rtol=1e-5, atol=1e-7)
    eps = 1e-6
    for k, w in enumerate(before):
        if k in (4, 5):
            continue
        for index in list(np.ndindex(w.shape))[:5]:
            plus, minus = [v.copy() for v in before], [v.copy() for v in before]
            plus[k][index] += eps
            minus[k][index] -= eps
            numerical = (cnn_reference_loss(plus, x, y) - cnn_reference_loss(minus, x, y)) / (2 * eps)
            np.testing.assert_allclose(step[k][index], numerical, rtol=2e-3, atol=2e-5, err_msg=f"weight {k} {index}")


def test_predict_is_batch_invariant_and_fuses_the_activation():
    model = cnn(1)
    x = np.random.default_rng(6).standard_normal((37, 6, 6, 2)).astype(np.float32)
    batch = model.predict(x, verbose=0)
    for i in (0, 17, 36):
        np.testing.assert_array_equal(model.predict(x[i:i + 1], verbose=0)[0], batch[i])
    np.testing.assert_array_equal(model.predict(x[5:30], batch_size=7, verbose=0), batch[5:30])
    plan = fastnn.engine.plan.Plan(model)
    assert [type(s.layer).__name__ for s in plan.steps].count("Activation") == 1  # relu after BN stays
    fused = fastnn.Sequential([Conv2D(3, 3, input_shape=(5, 5, 1)), Activation("relu")])
    steps = fastnn.engine.plan.Plan(fused).steps
    assert len(steps) == 1 and steps[0].activation.name == "relu"


def test_save_load_and_pickle_round_trip(tmp_path):
    import pickle

    inp = fastnn.Input((7, 7, 3))
    h = SeparableConv2D(4, 3, padding="same", activation="relu")(inp)
    h = DepthwiseConv2D(3, depth_multiplier=2)(h)
    h = Conv2DTranspose(3, 3, strides=2, padding="same")(h)
    out = GlobalAveragePooling2D()(BatchNormalization()(Conv2D(2, 3, groups=1)(h)))
    model = fastnn.Model(inp, out)
    model.compile("adam", "mse")
    x = np.random.default_rng(7).standard_normal((4, 7, 7, 3)).astype(np.float32)
    model.fit(x, np.zeros((4, 2)), epochs=1, verbose=0)
    path = str(tmp_path / "cnn.fnn")
    model.save(path)
    for restored in (fastnn.load_model(path), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
        for a, b in zip(restored.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
