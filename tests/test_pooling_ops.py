"""Windowed and global pooling against float64 loops over windows and PyTorch, under every SIMD path
and 1 and 2 threads."""
import numpy as np
import pytest

import fastnn

import reference as ref
import torch_nhwc

# (n, h, w, c, pool, strides, padding)
CASES = [
    (2, 6, 6, 3, 2, None, "valid"),
    (2, 7, 5, 4, 2, None, "same"),                   # odd sizes: a last, clipped window
    (1, 9, 8, 5, 3, 2, "valid"),                     # overlapping windows
    (3, 8, 9, 2, 3, 2, "same"),
    (2, 9, 9, 3, 3, 2, "same"),                      # even padding: torch can check it too
    (2, 5, 11, 70, (2, 3), (1, 2), "same"),          # channels past one block of the backward
    (1, 4, 4, 1, 4, 1, "valid"),                     # one window covers the image
    (2, 10, 3, 6, (3, 1), (3, 1), "valid"),          # stride > pool along rows: rows no window covers
]


def geometry(case):
    n, h, w, c, pool, strides, padding = case
    pool = (pool,) * 2 if isinstance(pool, int) else pool
    strides = pool if strides is None else (strides,) * 2 if isinstance(strides, int) else strides
    axes = [ref.keras_window(size, p, s, padding) for size, p, s in zip((h, w), pool, strides)]
    return pool, strides, (axes[0][1], axes[1][1]), (axes[0][0], axes[1][0])


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", CASES)
def test_pool2d_matches_reference(simd, nthreads, rng, kind, case):
    x = rng.standard_normal(case[:4]).astype(np.float32)
    pool, strides, pads, out_hw = geometry(case)
    forward, backward = getattr(fastnn.ops, f"{kind}_pool2d"), getattr(fastnn.ops, f"{kind}_pool2d_backward")
    y = forward(x, case[4], case[5], case[6])
    np.testing.assert_allclose(y, ref.pool2d(x, kind, pool, strides, pads, out_hw), rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = backward(x, y, dy, case[4], case[5], case[6])
    np.testing.assert_allclose(dx, ref.pool2d_backward(x, dy, kind, pool, strides, pads), rtol=1e-6, atol=1e-6)
    expected = torch_nhwc.pool2d(kind, x, dy, pool, strides, pads, out_hw)
    if expected is not None:
        np.testing.assert_allclose(y, expected[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(dx, expected[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pool1d_matches_reference(simd, rng, kind, padding):
    x = rng.standard_normal((3, 11, 4)).astype(np.float32)
    out, pad = ref.keras_window(11, 3, 2, padding)
    y = getattr(fastnn.ops, f"{kind}_pool1d")(x, 3, 2, padding)
    np.testing.assert_allclose(y, ref.pool2d(x[:, None], kind, (1, 3), (1, 2), (0, pad), (1, out))[:, 0], rtol=1e-6,
                               atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = getattr(fastnn.ops, f"{kind}_pool1d_backward")(x, y, dy, 3, 2, padding)
    np.testing.assert_allclose(dx, ref.pool2d_backward(x[:, None], dy[:, None], kind, (1, 3), (1, 2), (0, pad))[:, 0],
                               rtol=1e-6, atol=1e-6)


def test_max_pool_routes_ties_to_the_first_cell_and_keeps_nan(rng):
    x = np.zeros((1, 4, 4, 2), np.float32)
    x[0, 0, 1, 0] = np.nan
    y = fastnn.ops.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 0, 1])
    dx = fastnn.ops.max_pool2d_backward(x, y, np.ones_like(y), 2)
    expected = np.zeros_like(x)
    expected[0, ::2, ::2, :] = 1   # ties: the window's first cell
    expected[0, 0, 0, 0], expected[0, 0, 1, 0] = 0, 1   # NaN: the NaN cell
    assert np.array_equal(dx, expected)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_threads_and_batches_do_not_change_bits(simd, rng, kind):
    x = rng.standard_normal((8, 28, 28, 32)).astype(np.float32)
    for pool, strides in ((2, None), (3, 2)):
        forward, backward = getattr(fastnn.ops, f"{kind}_pool2d"), getattr(fastnn.ops, f"{kind}_pool2d_backward")
        results = []
        for threads in (1, 2):
            with fastnn.threads(threads):
                y = forward(x, pool, strides, "same")
                results.append((y, backward(x, y, y * 0.5, pool, strides, "same")))
                assert np.array_equal(forward(x[5:6], pool, strides, "same")[0], y[5])
        for one, two in zip(*results):
            assert np.array_equal(one, two)


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_global_pooling(simd, nthreads, rng, kind, rank):
    x = rng.standard_normal((3, 5, 6, 7)[:rank + 1] + (7,)).astype(np.float32)
    x[1].reshape(-1, 7)[4, 2] = 9.0
    forward = getattr(fastnn.ops, f"global_{kind}_pool{rank}d")
    backward = getattr(fastnn.ops, f"global_{kind}_pool{rank}d_backward")
    axes = tuple(range(1, rank + 1))
    x64 = x.astype(np.float64)
    expected = x64.max(axis=axes) if kind == "max" else x64.mean(axis=axes)
    y = forward(x)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    kept = forward(x, keepdims=True)
    assert kept.shape == (3,) + (1,) * rank + (7,) and np.array_equal(kept.reshape(y.shape), y)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = backward(x, kept, dy.reshape(kept.shape))
    if kind == "avg":
        expected_dx = np.broadcast_to(dy.reshape(kept.shape) / np.prod(x.shape[1:-1]), x.shape)
    else:
        expected_dx = ref.pool2d_backward(x.reshape(3, 1, -1, 7), dy.reshape(3, 1, 1, 7), "max",
                                          (1, int(np.prod(x.shape[1:-1]))), (1, 1), (0, 0)).reshape(x.shape)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-6, atol=1e-6)


def test_outputs_given_leave_their_surroundings_untouched(rng):
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    buf = np.full(2 * 3 * 3 * 3 + 8, 5.0, np.float32)
    y = fastnn.ops.max_pool2d(x, 2, out=buf[4:-4].reshape(2, 3, 3, 3))
    dxbuf = np.full(x.size + 8, 5.0, np.float32)
    fastnn.ops.max_pool2d_backward(x, y, y, 2, out=dxbuf[4:-4].reshape(x.shape))
    assert np.all(buf[:4] == 5) and np.all(buf[-4:] == 5) and np.all(dxbuf[:4] == 5) and np.all(dxbuf[-4:] == 5)


@pytest.mark.parametrize("call,words", [
    (lambda x: fastnn.ops.max_pool2d(x, 7), ["larger than the padded input"]),
    (lambda x: fastnn.ops.max_pool2d(x, 2, 0), ["strides", ">= 1"]),
    (lambda x: fastnn.ops.avg_pool2d(x, 0), ["pool_size"]),
    (lambda x: fastnn.ops.max_pool2d(x, 2, padding="full"), ["padding"]),
    (lambda x: fastnn.ops.max_pool2d_backward(x, x, x, 2), ["dy", "(2, 3, 3, 3)"]),
    (lambda x: fastnn.ops.max_pool1d(x, 2), ["(batch, steps, channels)"]),
    (lambda x: fastnn.ops.global_max_pool2d_backward(x, np.ones((2, 3)), np.ones((2, 4))), ["dy"]),
])
def test_errors(rng, call, words):
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    with pytest.raises(ValueError) as info:
        call(x)
    for word in words:
        assert word in str(info.value)
