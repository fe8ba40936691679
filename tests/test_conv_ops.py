"""fastnn.ops.conv2d / conv1d and their backward against float64 direct loops, the C naive twins,
finite differences and PyTorch, under every SIMD path and 1 and 2 threads."""
import numpy as np
import pytest

import fastnn
from fastnn import _C

import reference as ref
import torch_nhwc

# (n, h, w, c, f, kh, kw, strides, padding, dilation, groups)
CASES = [
    (1, 1, 1, 1, 1, 1, 1, 1, "valid", 1, 1),
    (2, 5, 7, 3, 4, 3, 3, 1, "same", 1, 1),
    (3, 8, 6, 1, 32, 3, 3, 1, "same", 1, 1),           # one input channel: a first layer
    (2, 9, 11, 5, 13, 3, 2, (2, 1), "valid", 1, 1),
    (2, 10, 9, 6, 8, 3, 3, 2, "same", 1, 2),           # groups
    (1, 11, 13, 4, 6, 3, 3, 1, "same", (2, 3), 1),     # dilation
    (2, 7, 7, 33, 40, 3, 3, 1, "same", 1, 1),          # K = 297: two K blocks; 40 filters: a partial panel
    (2, 6, 5, 8, 12, 1, 1, 1, "valid", 1, 1),          # 1x1: a plain GEMM
    (2, 7, 9, 6, 9, 1, 1, 2, "valid", 1, 3),           # strided 1x1 with groups
    (1, 5, 5, 2, 3, 5, 5, 1, "valid", 1, 1),           # the kernel covers the image
    (2, 13, 4, 3, 5, 4, 2, 3, "same", 1, 1),           # even kernel, stride 3
    (3, 4, 4, 6, 6, 3, 3, 1, "same", 1, 6),            # depthwise (groups = channels)
    (2, 7, 6, 4, 8, 3, 3, 2, "valid", 1, 4),           # depthwise, multiplier 2, strided
    (2, 6, 5, 32, 24, 3, 3, 1, "same", 1, 1),          # stride 1, whole panels of channels: dx as a forward
    (1, 7, 6, 64, 8, 3, 2, 1, "valid", (2, 1), 2),     # the same with groups and dilation
]


def geometry(case):
    """(strides, dilation, pads, out_hw) of a case by Keras's rules."""
    n, h, w, c, f, kh, kw, strides, padding, dilation, groups = case
    strides = (strides, strides) if isinstance(strides, int) else strides
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    axes = [ref.keras_window(size, (k - 1) * d + 1, s, padding)
            for size, k, s, d in zip((h, w), (kh, kw), strides, dilation)]
    return strides, dilation, (axes[0][1], axes[1][1]), (axes[0][0], axes[1][0])


def operands(case, rng):
    n, h, w, c, f, kh, kw, strides, padding, dilation, groups = case
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = (rng.standard_normal((kh, kw, c // groups, f)) / np.sqrt(kh * kw * c / groups)).astype(np.float32)
    return x, wt, rng.standard_normal(f).astype(np.float32)


def kwargs(case):
    return dict(strides=case[7], padding=case[8], dilation_rate=case[9], groups=case[10])


def output_gradient(y, dy, act):
    """dy * act'(y), from the forward's float32 output."""
    y = np.asarray(y, np.float64)
    return dy * {None: 1.0, "relu": y > 0, "tanh": 1 - y * y}[act]


@pytest.mark.parametrize("act", [None, "relu"])
@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_reference(simd, nthreads, rng, case, act):
    x, w, b = operands(case, rng)
    strides, dilation, pads, out_hw = geometry(case)
    groups = case[10]
    y = fastnn.ops.conv2d(x, w, b, activation=act, **kwargs(case))
    terms = w.shape[0] * w.shape[1] * w.shape[2]
    expected = ref.activation(ref.conv2d(x, w, b, strides, dilation, pads, groups, out_hw), act)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=ref.conv_tolerance(terms))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = fastnn.ops.conv2d_backward(x, w, dy, y=y, activation=act, **kwargs(case))
    dz = output_gradient(y, dy, act)
    pixels = dy.shape[0] * dy.shape[1] * dy.shape[2]
    np.testing.assert_allclose(dx, ref.conv2d_data_grad(dz, w, x.shape, strides, dilation, pads, groups),
                               rtol=1e-5, atol=ref.conv_tolerance(terms * w.shape[3]))
    dw_ref, db_ref = ref.conv2d_filter_grad(x, dz, w.shape, strides, dilation, pads, groups)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=ref.conv_tolerance(pixels, 2))
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=ref.conv_tolerance(pixels, 2))


@pytest.mark.parametrize("case", CASES)
def test_kernels_match_their_naive_twins(simd, rng, case):
    x, w, b = operands(case, rng)
    args = geometry(case)
    geo = (*args[0], *args[1], *args[2], case[10])
    y, y_ref = (np.empty((x.shape[0], *args[3], w.shape[3]), np.float32) for _ in range(2))
    _C.conv2d_forward(x, w, b, y, None, geo, 3, 1.0)  # elu
    _C.conv2d_forward(x, w, b, y_ref, None, geo, 3, 1.0, True)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dx_ref = np.empty_like(x), np.empty_like(x)
    _C.conv2d_backward_data(dy, w, None, dx, None, geo)
    _C.conv2d_backward_data(dy, w, None, dx_ref, None, geo, 0, 0.0, True)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
    dw, dw_ref, db, db_ref = np.empty_like(w), np.empty_like(w), np.empty_like(b), np.empty_like(b)
    _C.conv2d_backward_filter(x, dy, dw, db, None, geo)
    _C.conv2d_backward_filter(x, dy, dw_ref, db_ref, None, geo, True)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[5], CASES[11], (1, 4, 3, 16, 2, 3, 3, 1, "same", 1, 1)])
def test_conv2d_finite_differences(rng, case):
    x, w, b = (a.astype(np.float64) for a in operands(case, rng))
    strides, dilation, pads, out_hw = geometry(case)
    probe = rng.standard_normal((x.shape[0], *out_hw, w.shape[3]))

    def objective():
        return float(np.sum(np.tanh(ref.conv2d(x, w, b, strides, dilation, pads, case[10], out_hw)) * probe))

    y = fastnn.ops.conv2d(x, w, b, activation="tanh", **kwargs(case))
    grads = fastnn.ops.conv2d_backward(x, w, probe, y=y, activation="tanh", **kwargs(case))
    for grad, numeric in zip(grads, ref.numeric_gradients(objective, [x, w, b])):
        np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_torch(rng, case):
    x, w, b = operands(case, rng)
    strides, dilation, pads, out_hw = geometry(case)
    dy = rng.standard_normal((x.shape[0], *out_hw, w.shape[3])).astype(np.float32)
    expected = torch_nhwc.conv2d(x, w, b, dy, strides, dilation, pads, case[10], out_hw)
    if expected is None:
        pytest.skip("torch is not installed")
    got = (fastnn.ops.conv2d(x, w, b, **kwargs(case)), *fastnn.ops.conv2d_backward(x, w, dy, **kwargs(case)))
    for mine, theirs in zip(got, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)


# Big enough that every pass splits across two threads.
THREADED = [(4, 12, 12, 16, 24, 3, 3, 1, "same", 1, 1), (6, 20, 17, 1, 32, 3, 3, 1, "same", 1, 1),
            (4, 15, 15, 12, 20, 3, 3, 2, "valid", 1, 2), (3, 14, 14, 32, 32, 3, 3, 1, "same", 1, 32),
            (4, 10, 10, 64, 64, 1, 1, 1, "valid", 1, 1), (3, 10, 10, 32, 48, 3, 3, 1, "same", 1, 1)]


@pytest.mark.parametrize("case", THREADED)
def test_thread_count_does_not_change_bits(simd, rng, case):
    x, w, b = operands(case, rng)
    y = fastnn.ops.conv2d(x, w, b, **kwargs(case))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append((fastnn.ops.conv2d(x, w, b, activation="tanh", **kwargs(case)),
                            *fastnn.ops.conv2d_backward(x, w, dy, **kwargs(case))))
    for one, two in zip(*results):
        assert np.array_equal(one, two)


@pytest.mark.parametrize("case", THREADED + [CASES[0], CASES[7], (1, 1, 1, 6, 9, 1, 1, 1, "valid", 1, 1)])
def test_an_image_gives_the_same_bits_alone_and_in_any_batch(simd, rng, case):
    x, w, b = operands(case, rng)
    x = np.concatenate([x, rng.standard_normal((5, *x.shape[1:])).astype(np.float32)])
    with fastnn.threads(2):
        batch = fastnn.ops.conv2d(x, w, b, activation="relu", **kwargs(case))
        for i in (0, 2, len(x) - 1):
            alone = fastnn.ops.conv2d(x[i:i + 1], w, b, activation="relu", **kwargs(case))
            pair = fastnn.ops.conv2d(x[i:i + 2], w, b, activation="relu", **kwargs(case))
            assert np.array_equal(alone[0], batch[i]) and np.array_equal(pair[0], batch[i])


def test_outputs_and_scratch_given_leave_their_surroundings_untouched(rng):
    case = CASES[6]
    x, w, b = operands(case, rng)
    floats = fastnn.ops.conv2d_scratch_size(x.shape, w.shape, padding="same",
                                            passes=("forward", "backward_data", "backward_filter"))
    buf = np.full(floats + 2 * x.size + 2 * w.size + 64 + 40, 7.0, np.float32)
    y_shape = (2, 7, 7, 40)
    y = np.full(np.prod(y_shape) + 8, 7.0, np.float32)
    scratch, dx, dw, db = buf[:floats], buf[floats + 4:floats + 4 + x.size].reshape(x.shape), \
        buf[floats + 8 + x.size:floats + 8 + x.size + w.size].reshape(w.shape), buf[-44:-4]
    out = fastnn.ops.conv2d(x, w, b, padding="same", out=y[4:-4].reshape(y_shape), scratch=scratch)
    assert np.all(y[:4] == 7) and np.all(y[-4:] == 7)
    grads = fastnn.ops.conv2d_backward(x, w, out, padding="same", out=(dx, dw, db), scratch=scratch)
    assert grads[0] is dx and grads[1] is dw and grads[2] is db
    gaps = [buf[floats:floats + 4], buf[floats + 4 + x.size:floats + 8 + x.size],
            buf[floats + 8 + x.size + w.size:-44], buf[-4:]]
    assert all(np.all(gap == 7) for gap in gaps)
    np.testing.assert_allclose(dw, ref.conv2d_filter_grad(x, out, w.shape, (1, 1), (1, 1), (1, 1))[0], rtol=1e-4,
                               atol=1e-3)


def test_skipped_gradients_are_none_and_db_alone_is_the_column_sum(rng):
    x, w, b = operands(CASES[1], rng)
    dy = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    dx, dw, db = fastnn.ops.conv2d_backward(x, w, dy, padding="same", out=(None, None, np.empty(4, np.float32)))
    assert dx is None and dw is None
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


def test_scratch_stays_within_blocks_of_the_gemm():
    """N16 56x56 64->64, forward and backward: a whole im2col would be 115 MB."""
    floats = fastnn.ops.conv2d_scratch_size((16, 56, 56, 64), (3, 3, 64, 64), padding="same", threads=2,
                                            passes=("forward", "backward_data", "backward_filter"))
    assert floats * 4 < 8e6


def test_nan_reaches_the_outputs_it_touches(rng):
    x, w, b = operands(CASES[1], rng)
    x[1, 2, 3, 0] = np.nan
    y = fastnn.ops.conv2d(x, w, b, padding="same")
    assert np.isnan(y[1, 1:4, 2:5]).all() and not np.isnan(y[0]).any() and not np.isnan(y[1, 0]).any()


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 3)])
def test_conv1d_matches_reference(simd, rng, padding, strides, dilation):
    x = rng.standard_normal((3, 17, 5)).astype(np.float32)
    w = rng.standard_normal((3, 5, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    out, pad = ref.keras_window(17, 2 * dilation + 1, strides, padding)
    kw = dict(strides=strides, padding=padding, dilation_rate=dilation)
    y = fastnn.ops.conv1d(x, w, b, **kw)
    args = ((1, strides), (1, dilation), (0, pad))
    np.testing.assert_allclose(y, ref.conv2d(x[:, None], w[None], b, *args, 1, (1, out))[:, 0], rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = fastnn.ops.conv1d_backward(x, w, dy, **kw)
    np.testing.assert_allclose(dx, ref.conv2d_data_grad(dy[:, None], w[None], (3, 1, 17, 5), *args)[:, 0],
                               rtol=1e-5, atol=1e-5)
    dw_ref, db_ref = ref.conv2d_filter_grad(x[:, None], dy[:, None], (1, 3, 5, 6), *args)
    np.testing.assert_allclose(dw, dw_ref[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=1e-4)


def test_causal_conv1d_does_not_see_the_future(rng):
    x = rng.standard_normal((1, 12, 2)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3)).astype(np.float32)
    y = fastnn.ops.conv1d(x, w, padding="causal", dilation_rate=2)
    x2 = x.copy()
    x2[0, 7:] = 100.0
    assert np.array_equal(fastnn.ops.conv1d(x2, w, padding="causal", dilation_rate=2)[0, :7], y[0, :7])


@pytest.mark.parametrize("call,error,words", [
    (lambda x, w: fastnn.ops.conv2d(x, np.ones((7, 3, 3, 4))), ValueError, ["larger than the padded input"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, strides=0), ValueError, ["strides", ">= 1"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, strides=(1, -2)), ValueError, ["strides"]),
    (lambda x, w: fastnn.ops.conv2d(x, np.ones((3, 3, 2, 4))), ValueError, ["3 channels", "kernel"]),
    (lambda x, w: fastnn.ops.conv2d(x, np.ones((3, 3, 1, 4)), groups=2), ValueError, ["groups=2", "divide"]),
    (lambda x, w: fastnn.ops.conv2d(x, np.ones((3, 3, 1, 4)), groups=0), ValueError, ["groups"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, padding="full"), ValueError, ["padding", "'valid'"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, padding="causal"), ValueError, ["padding"]),
    (lambda x, w: fastnn.ops.conv2d(x[0], w), ValueError, ["(batch, height, width, channels)"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, np.ones(3)), ValueError, ["b", "(4,)"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, activation="softmax"), ValueError, ["activation"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, out=np.empty((2, 3, 4, 4), np.float32)), ValueError, ["out"]),
    (lambda x, w: fastnn.ops.conv2d(x, w, scratch=np.empty(3, np.float32)), ValueError, ["scratch holds 3"]),
    (lambda x, w: fastnn.ops.conv2d([["a"]], w), TypeError, ["real numbers"]),
    (lambda x, w: fastnn.ops.conv2d_backward(x, w, np.ones((2, 5, 4, 4))), ValueError, ["dy", "(2, 4, 5, 4)"]),
    (lambda x, w: fastnn.ops.conv2d_backward(x, w, np.ones((2, 4, 5, 4)), activation="relu"), ValueError,
     ["needs y"]),
    (lambda x, w: fastnn.ops.conv2d_backward(x, w, np.ones((2, 4, 5, 4)), activation="gelu"), ValueError,
     ["activation"]),
    (lambda x, w: fastnn.ops.conv2d_backward(x, w, np.ones((2, 4, 5, 4)), out=(x,)), TypeError, ["tuple of 3"]),
    (lambda x, w: fastnn.ops.conv1d(x, w), ValueError, ["(batch, steps, channels)"]),
    (lambda x, w: fastnn.ops.conv1d(x[:, 0], w[0], padding="valid", dilation_rate=5), ValueError,
     ["steps", "larger"]),
    (lambda x, w: _C.conv2d_forward(x, w, None, np.empty((2, 4, 5, 4), np.float32), None, (1, 1, 1, 1, 0, 0, 2)),
     ValueError, ["groups"]),
    (lambda x, w: _C.conv2d_forward(x, w, None, None, None, (1, 1, 1, 1, 0, 0, 1)), TypeError, []),
])
def test_errors(rng, call, error, words):
    x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    with pytest.raises(error) as info:
        call(x, w)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("query", ["conv2d_scratch_size", "conv2d_transpose_scratch_size"])
@pytest.mark.parametrize("x_shape, error", [(np.float32(3), TypeError), (3, TypeError), ("abcd", TypeError),
                                            ((1, 2), ValueError), ((1, -5, 5, 1), ValueError)])
def test_scratch_size_queries_refuse_shapes_that_are_not_four_ints(query, x_shape, error):
    with pytest.raises(error, match=f"{query}: x_shape must be"):
        getattr(fastnn.ops, query)(x_shape, (3, 3, 1, 1))
