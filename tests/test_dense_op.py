"""fastnn.ops.dense_backward / dense_backward_into against float64 NumPy and finite differences."""
import numpy as np
import pytest

import fastnn
from fastnn import _C

import reference as ref

ACTS = [None, "relu", "sigmoid", "tanh"]


def derivative_from_output(y, act):
    y = np.asarray(y, np.float64)
    if act == "relu":
        return (y > 0).astype(np.float64)
    if act == "sigmoid":
        return y * (1 - y)
    if act == "tanh":
        return 1 - y * y
    return np.ones_like(y)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch,n_in,n_out", [(1, 1, 1), (7, 3, 5), (32, 8, 10), (13, 33, 17), (130, 70, 90)])
def test_matches_reference(simd, nthreads, rng, batch, n_in, n_out, act):
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    w = rng.standard_normal((n_in, n_out)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    y = fastnn.ops.dense(x, w, b, act)
    dy = rng.standard_normal((batch, n_out)).astype(np.float32)
    dx, dw, db = fastnn.ops.dense_backward(x, w, dy, y, act)
    dz = dy * derivative_from_output(y, act)
    tol = ref.gemm_tolerance(max(batch, n_out), 4)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ dz, rtol=1e-5, atol=tol)
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=1e-5, atol=tol)
    np.testing.assert_allclose(dx, dz @ w.T.astype(np.float64), rtol=1e-5, atol=tol)


@pytest.mark.parametrize("act", ACTS)
def test_finite_differences(rng, act):
    x = rng.standard_normal((6, 4))
    w = rng.standard_normal((4, 3))
    b = rng.standard_normal(3)
    probe = rng.standard_normal((6, 3))

    def objective(x_, w_, b_):
        return float(np.sum(ref.activation(x_ @ w_ + b_, act) * probe))

    y = fastnn.ops.dense(x, w, b, act)
    dx, dw, db = fastnn.ops.dense_backward(x, w, probe, y, act)
    eps = 1e-6
    for array, grad in ((x, dx), (w, dw), (b, db)):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            old = array[idx]
            array[idx] = old + eps
            up = objective(x, w, b)
            array[idx] = old - eps
            down = objective(x, w, b)
            array[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4)


def test_thread_count_does_not_change_bits(rng):
    x = rng.standard_normal((300, 200)).astype(np.float32)
    w = rng.standard_normal((200, 250)).astype(np.float32)
    y = fastnn.ops.dense(x, w, None, "tanh")
    dy = rng.standard_normal((300, 250)).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append(fastnn.ops.dense_backward(x, w, dy, y, "tanh"))
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def test_into_skips_outputs_given_as_none_and_leaves_guards(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    dy = rng.standard_normal((5, 3)).astype(np.float32)
    buf = np.full(12 + 8, 99.0, np.float32)
    dw = buf[4:16].reshape(4, 3)
    dx = fastnn.ops.dense_backward_into(x, w, dy, None, None, dz=None, dw=dw, db=None, dx=None)
    assert dx is None
    assert np.all(buf[:4] == 99) and np.all(buf[16:] == 99)
    np.testing.assert_allclose(dw, x.T @ dy, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call,error,words", [
    (lambda x, w, dy: fastnn.ops.dense_backward(x, w, dy[:, :2]), ValueError, ["dy", "(5, 3)"]),
    (lambda x, w, dy: fastnn.ops.dense_backward(x, w, dy, None, "relu"), ValueError, ["needs y"]),
    (lambda x, w, dy: fastnn.ops.dense_backward(x, w, dy, dy, "gelu"), ValueError, ["gelu"]),
    (lambda x, w, dy: fastnn.ops.dense_backward_into(x, w, dy, None, None, dz=None, dw=np.empty((3, 4), np.float32),
                                                     db=None, dx=None), ValueError, ["dw", "(4, 3)"]),
    (lambda x, w, dy: fastnn.ops.dense_backward_into(x, w, dy, None, None, dz=None, dw=None, db=None, dx=x),
     ValueError, ["share memory"]),
    (lambda x, w, dy: fastnn.ops.dense_backward([["a"]], w, dy), TypeError, ["real numbers"]),
    (lambda x, w, dy: _C.dense_backward(None, w, None, dy, None, 0, None, None, None), TypeError, []),
])
def test_errors(rng, call, error, words):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    dy = rng.standard_normal((5, 3)).astype(np.float32)
    with pytest.raises(error) as info:
        call(x, w, dy)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("pair", [("dw", "db"), ("dw", "dx"), ("db", "dx"), ("dz", "dw"), ("dz", "db"), ("dz", "dx")])
def test_overlapping_outputs_are_refused(rng, pair):
    """Two outputs in one buffer would overwrite each other's results: refused, nothing is computed."""
    x = rng.standard_normal((6, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    dy = rng.standard_normal((6, 3)).astype(np.float32)
    y = fastnn.ops.dense(x, w, None, "tanh")
    shapes = {"dz": (6, 3), "dw": (4, 3), "db": (3,), "dx": (6, 4)}
    shared = np.zeros(64, np.float32)
    outputs = {name: np.empty(shape, np.float32) for name, shape in shapes.items()}
    for name in pair:
        outputs[name] = shared[:int(np.prod(shapes[name]))].reshape(shapes[name])
    with pytest.raises(ValueError, match=f"{pair[1]} must not share memory with {pair[0]}|"
                                         f"{pair[0]} must not share memory with {pair[1]}"):
        fastnn.ops.dense_backward_into(x, w, dy, y, "tanh", **outputs)
    assert np.all(shared == 0)
