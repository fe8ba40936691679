"""Depthwise, separable and transposed convolutions against float64 direct loops, finite differences,
Keras's output sizes and PyTorch, under every SIMD path and 1 and 2 threads."""
import numpy as np
import pytest

import fastnn

import reference as ref
import torch_nhwc

# (n, h, w, c, multiplier, kh, kw, strides, padding, dilation)
DEPTHWISE = [
    (2, 6, 7, 3, 1, 3, 3, 1, "same", 1),
    (1, 9, 8, 5, 2, 3, 2, (2, 1), "valid", 1),
    (3, 7, 7, 4, 3, 3, 3, 1, "same", 2),
    (2, 5, 6, 16, 1, 5, 5, 2, "same", 1),
    (2, 4, 4, 1, 4, 1, 1, 1, "valid", 1),
]


def depthwise_case(case, rng):
    n, h, w, c, m, kh, kw, strides, padding, dilation = case
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((kh, kw, c, m)).astype(np.float32)
    strides = (strides,) * 2 if isinstance(strides, int) else strides
    axes = [ref.keras_window(size, (k - 1) * dilation + 1, s, padding) for size, k, s in zip((h, w), (kh, kw), strides)]
    geo = (strides, (dilation, dilation), (axes[0][1], axes[1][1]), (axes[0][0], axes[1][0]))
    return x, wt, rng.standard_normal(c * m).astype(np.float32), geo, dict(strides=case[7], padding=padding,
                                                                          dilation_rate=dilation)


@pytest.mark.parametrize("case", DEPTHWISE)
def test_depthwise_matches_reference(simd, nthreads, rng, case):
    x, w, b, geo, kw = depthwise_case(case, rng)
    c, m = w.shape[2:]
    grouped = w.reshape(w.shape[0], w.shape[1], 1, c * m)
    y = fastnn.ops.depthwise_conv2d(x, w, b, activation="relu", **kw)
    np.testing.assert_allclose(y, np.maximum(ref.conv2d(x, grouped, b, *geo[:3], c, geo[3]), 0), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = fastnn.ops.depthwise_conv2d_backward(x, w, dy, y=y, activation="relu", **kw)
    dz = dy * (y > 0)
    np.testing.assert_allclose(dx, ref.conv2d_data_grad(dz, grouped, x.shape, *geo[:3], c), rtol=1e-5, atol=1e-5)
    dw_ref, db_ref = ref.conv2d_filter_grad(x, dz, grouped.shape, *geo[:3], c)
    np.testing.assert_allclose(dw, dw_ref.reshape(w.shape), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", DEPTHWISE)
def test_depthwise_matches_torch(rng, case):
    x, w, b, geo, kw = depthwise_case(case, rng)
    c, m = w.shape[2:]
    y = fastnn.ops.depthwise_conv2d(x, w, b, **kw)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    expected = torch_nhwc.conv2d(x, w.reshape(w.shape[0], w.shape[1], 1, c * m), b, dy, *geo[:3], c, geo[3])
    if expected is None:
        pytest.skip("torch is not installed")
    dx, dw, db = fastnn.ops.depthwise_conv2d_backward(x, w, dy, **kw)
    for mine, theirs in zip((y, dx, dw, db), (expected[0], expected[1], expected[2].reshape(w.shape), expected[3])):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)


def test_depthwise_threads_and_batches_do_not_change_bits(simd, rng):
    x, w, b, _, kw = depthwise_case((6, 18, 18, 24, 2, 3, 3, 1, "same", 1), rng)
    dy = rng.standard_normal((6, 18, 18, 48)).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append((fastnn.ops.depthwise_conv2d(x, w, b, **kw),
                            *fastnn.ops.depthwise_conv2d_backward(x, w, dy, **kw)))
            assert np.array_equal(fastnn.ops.depthwise_conv2d(x[3:4], w, b, **kw)[0], results[-1][0][3])
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def test_depthwise_finite_differences(rng):
    x, w, b, geo, kw = depthwise_case(DEPTHWISE[1], rng)
    x, w, b = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    probe = rng.standard_normal((1, *geo[3], w.shape[2] * w.shape[3]))

    def objective():
        grouped = w.reshape(w.shape[0], w.shape[1], 1, -1)
        return float(np.sum(ref.conv2d(x, grouped, b, *geo[:3], w.shape[2], geo[3]) * probe))

    grads = fastnn.ops.depthwise_conv2d_backward(x, w, probe, **kw)
    for grad, numeric in zip(grads, ref.numeric_gradients(objective, [x, w, b])):
        np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4)


def test_separable_is_depthwise_then_pointwise(rng):
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    dk = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    pk = rng.standard_normal((1, 1, 6, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    y = fastnn.ops.separable_conv2d(x, dk, pk, b, padding="same", activation="tanh")
    mid = ref.conv2d(x, dk.reshape(3, 3, 1, 6), None, (1, 1), (1, 1), (1, 1), 3, (7, 6))
    np.testing.assert_allclose(y, np.tanh(ref.conv2d(mid, pk, b, out_hw=(7, 6))), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, ddk, dpk, db = fastnn.ops.separable_conv2d_backward(x, dk, pk, dy, padding="same", y=y, activation="tanh")
    dz = dy * (1 - y.astype(np.float64) ** 2)
    dmid = ref.conv2d_data_grad(dz, pk, mid.shape)
    np.testing.assert_allclose(dpk, ref.conv2d_filter_grad(mid, dz, pk.shape)[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dz.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, ref.conv2d_data_grad(dmid, dk.reshape(3, 3, 1, 6), x.shape, (1, 1), (1, 1), (1, 1),
                                                        3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ddk, ref.conv2d_filter_grad(x, dmid, (3, 3, 1, 6), (1, 1), (1, 1), (1, 1),
                                                           3)[0].reshape(dk.shape), rtol=1e-4, atol=1e-4)


# (n, h, w, c, filters, kh, kw, strides, padding, output_padding, dilation)
TRANSPOSE = [
    (2, 5, 4, 3, 4, 3, 3, 1, "valid", None, 1),
    (2, 5, 4, 3, 4, 3, 3, 2, "same", None, 1),
    (1, 4, 6, 5, 2, 3, 3, 2, "valid", 1, 1),
    (2, 3, 5, 4, 3, 4, 3, (3, 2), "same", (2, 1), 1),
    (1, 6, 6, 2, 3, 3, 3, 1, "same", None, 2),
    (2, 4, 4, 6, 5, 2, 2, 3, "valid", None, 1),        # kernel smaller than stride: uncovered rows
    (1, 3, 3, 16, 40, 1, 1, 1, "valid", None, 1),       # 1x1: a plain GEMM
    (2, 5, 6, 8, 32, 3, 3, 1, "same", None, 1),         # stride 1, a whole panel of filters: as a forward
]


def transpose_case(case, rng):
    """x, kernel (kh, kw, filters, c), bias, the kwargs, and the direct convolution it transposes:
    (its input shape, strides, dilation, pads)."""
    n, h, w, c, f, kh, kw, strides, padding, output_padding, dilation = case
    strides = (strides,) * 2 if isinstance(strides, int) else strides
    extra = (output_padding,) * 2 if isinstance(output_padding, int) else output_padding
    sizes, pads = [], []
    for a, (size, k) in enumerate(zip((h, w), (kh, kw))):
        window = (k - 1) * dilation + 1
        if extra is None:  # Keras's deconv_output_length
            out = size * strides[a] + (max(window - strides[a], 0) if padding == "valid" else 0)
        else:
            out = (size - 1) * strides[a] + window - (2 * (window // 2) if padding == "same" else 0) + extra[a]
        sizes.append(out)
        pads.append(max((size - 1) * strides[a] + window - out, 0) // 2 if padding == "same" else 0)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((kh, kw, f, c)).astype(np.float32)
    kw_args = dict(strides=case[7], padding=padding, output_padding=output_padding, dilation_rate=dilation)
    return x, wt, rng.standard_normal(f).astype(np.float32), kw_args, ((n, *sizes, f), strides,
                                                                       (dilation, dilation), tuple(pads))


@pytest.mark.parametrize("case", TRANSPOSE)
def test_conv2d_transpose_matches_reference(simd, nthreads, rng, case):
    x, w, b, kw, (y_shape, *geo) = transpose_case(case, rng)
    y = fastnn.ops.conv2d_transpose(x, w, b, activation="relu", **kw)
    assert y.shape == y_shape
    np.testing.assert_allclose(y, np.maximum(ref.conv2d_data_grad(x, w, y_shape, *geo) + b, 0), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = fastnn.ops.conv2d_transpose_backward(x, w, dy, y=y, activation="relu", **kw)
    dz = dy * (y > 0)
    np.testing.assert_allclose(dx, ref.conv2d(dz, w, None, *geo, 1, x.shape[1:3]), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dw, ref.conv2d_filter_grad(dz, x, w.shape, *geo)[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, dz.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", [c for c in TRANSPOSE if c[8] == "valid" or c[9] is None and c[7] == 1])
def test_conv2d_transpose_matches_torch(rng, case):
    torch = pytest.importorskip("torch")
    x, w, b, kw, (y_shape, strides, dilation, pads) = transpose_case(case, rng)
    y = fastnn.ops.conv2d_transpose(x, w, b, **kw)
    xt = torch.tensor(x.transpose(0, 3, 1, 2).astype(np.float64), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1).astype(np.float64), requires_grad=True)
    extra = [y_shape[1 + a] - ((x.shape[1 + a] - 1) * strides[a] - 2 * pads[a] + dilation[a] * (w.shape[a] - 1) + 1)
             for a in range(2)]
    yt = torch.nn.functional.conv_transpose2d(xt, wt, torch.tensor(b, dtype=torch.float64), strides, pads, extra,
                                              dilation=dilation)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).astype(np.float64)))
    dx, dw, _ = fastnn.ops.conv2d_transpose_backward(x, w, dy, **kw)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, wt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=1e-4)


def test_conv2d_transpose_threads_and_batches_do_not_change_bits(simd, rng):
    x, w, b, kw, _ = transpose_case((5, 9, 9, 16, 24, 3, 3, 2, "same", None, 1), rng)
    dy = rng.standard_normal((5, 18, 18, 24)).astype(np.float32)
    check_threads_and_batches(x, w, b, kw, dy)
    x, w, b, kw, _ = transpose_case((5, 9, 9, 16, 32, 3, 3, 1, "same", None, 1), rng)
    check_threads_and_batches(x, w, b, kw, rng.standard_normal((5, 9, 9, 32)).astype(np.float32))


def check_threads_and_batches(x, w, b, kw, dy):
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append((fastnn.ops.conv2d_transpose(x, w, b, activation="tanh", **kw),
                            *fastnn.ops.conv2d_transpose_backward(x, w, dy, **kw)))
            for i in (0, 4):
                alone = fastnn.ops.conv2d_transpose(x[i:i + 1], w, b, activation="tanh", **kw)
                assert np.array_equal(alone[0], results[-1][0][i])
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def test_conv2d_transpose_finite_differences(rng):
    x, w, b, kw, (y_shape, *geo) = transpose_case(TRANSPOSE[3], rng)
    x, w, b = x[:1].astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    y_shape = (1, *y_shape[1:])
    probe = rng.standard_normal(y_shape)

    def objective():
        return float(np.sum(np.tanh(ref.conv2d_data_grad(x, w, y_shape, *geo) + b) * probe))

    y = fastnn.ops.conv2d_transpose(x, w, b, activation="tanh", **kw)
    grads = fastnn.ops.conv2d_transpose_backward(x, w, probe, y=y, activation="tanh", **kw)
    for grad, numeric in zip(grads, ref.numeric_gradients(objective, [x, w, b])):
        np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("call,words", [
    (lambda x: fastnn.ops.depthwise_conv2d(x, np.ones((3, 3, 2, 1))), ["3 channels", "depthwise kernel"]),
    (lambda x: fastnn.ops.conv2d_transpose(x, np.ones((3, 3, 4, 2))), ["3 channels", "Conv2DTranspose"]),
    (lambda x: fastnn.ops.conv2d_transpose(x, np.ones((3, 3, 4, 3)), strides=2, output_padding=2),
     ["output_padding", "smaller than strides"]),
    (lambda x: fastnn.ops.conv2d_transpose(x, np.ones((3, 3, 4, 3)), strides=0), ["strides"]),
    (lambda x: fastnn.ops.conv2d_transpose_backward(x, np.ones((3, 3, 4, 3)), np.ones((2, 5, 5, 4))), ["dy"]),
])
def test_errors(rng, call, words):
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    with pytest.raises(ValueError) as info:
        call(x)
    for word in words:
        assert word in str(info.value)
