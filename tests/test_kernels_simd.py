"""Every elementwise kernel family (activations, softmax, losses, optimizer updates, reductions,
metrics) on every SIMD path this CPU has, with 1 and 2 threads.

Within a path results are bitwise identical for any thread count. Between paths they may differ: the
AVX2 and AVX-512 builds fuse multiply-adds, so vmath.h's functions move by an ulp or two; each case
states how far from the scalar path a result may be, and every path is checked against float64.
Sizes are large enough that the threaded code runs.
"""
import numpy as np
import pytest

import fastnn
from fastnn import _C, ops

import reference as ref
from test_nn_kernels import OPTIMIZERS, fresh_states, loss_inputs, run_steps

ELEMENTWISE = ["relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus"]
# float32 ulps an activation may move between SIMD paths (forward; backward twice that)
PATH_ULPS = 4


def on_path(path, threads, fn):
    """fn() with `path` forced and `threads` kernel threads, the previous path restored."""
    previous = _C.simd_get()
    _C.simd_set(path)
    try:
        with fastnn.threads(threads):
            return fn()
    finally:
        _C.simd_set(previous)


def check_path(simd, fn, reference, rtol, atol, path_ulps):
    """fn() on `simd` equals itself bitwise at 1 and 2 threads, is within rtol/atol of the float64
    reference and within path_ulps float32 ulps (or atol) of the scalar path."""
    one = on_path(simd, 1, fn)
    two = on_path(simd, 2, fn)
    scalar = on_path("scalar", 1, fn)
    for got, same, base, want in zip(one, two, scalar, reference):
        np.testing.assert_array_equal(got, same)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
        spacing = np.spacing(np.abs(np.asarray(base, np.float32))).astype(np.float64)
        assert np.all(np.abs(np.asarray(got, np.float64) - base) <= path_ulps * spacing + atol), simd


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_on_every_path(name, simd, rng):
    x = (rng.standard_normal((301, 409)) * 4).astype(np.float32)
    x[0, :4] = [0.0, -0.0, 1e-30, -90.0]
    dy = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        y = ops.activation_forward(name, x)
        return y, ops.activation_backward(name, x, y, dy)
    reference = ref.nn_activation(x, name), ref.nn_activation_grad(x, dy, name)
    check_path(simd, run, reference, rtol=1e-5, atol=1e-6, path_ulps=2 * PATH_ULPS)


@pytest.mark.parametrize("cols", [1, 10, 15, 16, 17, 31, 32, 1024])
def test_softmax_on_every_path(cols, simd, rng):
    x = (rng.standard_normal((max(70000 // cols, 3), cols)) * 5).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        y = ops.activation_forward("softmax", x)
        return y, ops.activation_backward("softmax", None, y, dy)
    reference = ref.nn_activation(x, "softmax"), ref.nn_activation_grad(x, dy, "softmax")
    # dy - <y, dy> cancels in float32: the backward's error is absolute, ~ulp(<y, dy>)
    check_path(simd, run, reference, rtol=2e-5, atol=1e-6, path_ulps=2 * PATH_ULPS)


@pytest.fixture
def large_array_paths():
    """Restores the array sizes past which kernels stream their output and prefetch their inputs."""
    yield
    _C.set_stream_min_floats(0)
    _C.set_prefetch_min_floats(0)


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
@pytest.mark.parametrize("n", [1, 15, 17, 2047, 2048 * 3 + 5, 1000 * 13, 300 * 257])
def test_large_array_paths_match_small_ones(name, n, simd, rng, large_array_paths):
    """With every array counted as large, streamed outputs (heads up to a line boundary stored plainly,
    blocks streamed, a part line at the end) and inputs prefetched ahead in pieces equal the small-array
    path bit for bit, at 1 and 2 threads, wherever the output starts (one float past a line as well),
    and in place. Softmax runs on rows of 257 and 13 floats (narrow rows go in blocks)."""
    cols = n
    if name == "softmax":
        cols = 257 if n % 257 == 0 else 13 if n % 13 == 0 else n
    x = (rng.standard_normal(n + 1) * 4).astype(np.float32)[1:].reshape(-1, cols)
    x.flat[:3] = [np.nan, np.inf, -0.0][:min(3, n)]
    dy = rng.standard_normal(x.shape).astype(np.float32)

    def run(start):
        buffers = np.full((2, n + 32), 7.0, np.float32)
        y = buffers[0, start:start + n].reshape(x.shape)
        dx = buffers[1, start:start + n].reshape(x.shape)
        ops.activation_forward(name, x, out=y)
        ops.activation_backward(name, x, y, dy, out=dx)
        assert np.all(buffers[:, :start] == 7.0) and np.all(buffers[:, start + n:] == 7.0)
        return y.copy(), dx.copy()
    plain = on_path(simd, 1, lambda: run(0))
    for stream, prefetch in ((1, 0), (0, 1), (1, 1)):
        _C.set_stream_min_floats(stream)
        _C.set_prefetch_min_floats(prefetch)
        for threads in (1, 2):
            for start in (0, 1, 16):
                for got, want in zip(on_path(simd, threads, lambda: run(start)), plain):
                    np.testing.assert_array_equal(got, want)
    in_place = x.copy()
    on_path(simd, 2, lambda: ops.activation_forward(name, in_place, out=in_place))
    np.testing.assert_array_equal(in_place, plain[0])


def test_softmax_nan_and_inf_rows(simd):
    x = np.array([[0.0, np.nan] + [1.0] * 18, [np.inf] + [0.0] * 19, [-np.inf] + [0.0] * 19], np.float32)
    y = on_path(simd, 1, lambda: ops.activation_forward("softmax", x))
    assert np.all(np.isnan(y[0])) and np.isnan(y[1, 0])
    np.testing.assert_allclose(y[2], [0.0] + [1 / 19] * 19, rtol=1e-6)


LOSSES = ["mse", "mae", "huber", "bce", "bce_logits", "cce", "cce_logits"]


@pytest.mark.parametrize("rows,cols", [(40000, 1), (9001, 3), (500, 61)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", LOSSES)
def test_loss_on_every_path(kind, rows, cols, weighted, simd, rng):
    from test_nn_kernels import LOSS_KINDS
    if kind == "cce" and cols == 1:
        pytest.skip("a single normalised class is always 1")
    t, p = loss_inputs(rng, kind, rows, cols)
    w = rng.uniform(0.1, 2.0, size=rows).astype(np.float32) if weighted else None

    def run():
        value, grad = LOSS_KINDS[kind](t, p, sample_weight=w)
        return np.float64(value), grad
    value, grad = ref.loss_value_and_grad(kind, t, p, w, delta=0.5) if kind == "huber" else \
        ref.loss_value_and_grad(kind, t, p, w)
    check_path(simd, run, (value, grad), rtol=2e-5, atol=1e-6 * np.abs(grad).max(), path_ulps=2 * PATH_ULPS)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_on_every_path(from_logits, simd, rng):
    rows, cols = 3000, 37
    t, p = loss_inputs(rng, "cce_logits" if from_logits else "cce", rows, cols)
    p = p if from_logits else rng.uniform(0.05, 0.95, size=(rows, cols)).astype(np.float32)
    labels = rng.integers(0, cols, size=rows)
    onehot = np.eye(cols, dtype=np.float32)[labels]

    def run():
        value, grad = ops.loss_sparse_categorical_crossentropy(labels, p, from_logits=from_logits)
        return np.float64(value), grad
    value, grad = ref.loss_value_and_grad("cce_logits" if from_logits else "cce", onehot, p, None)
    check_path(simd, run, (value, grad), rtol=2e-5, atol=1e-6 * np.abs(grad).max(), path_ulps=2 * PATH_ULPS)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_on_every_path(name, simd, rng):
    kind, hyper, state_names, update = OPTIMIZERS[name]
    n = 70001
    p0 = rng.normal(size=n).astype(np.float32)
    grads = [rng.normal(size=n).astype(np.float32) for _ in range(3)]

    def run():
        return (run_steps(update, p0, grads, fresh_states(state_names, n)),)
    expected = ref.optimizer_steps(kind, p0, grads, grad_scale=0.5, **hyper)
    # a fused multiply-add moves a step by an ulp of the step, which can be many ulps of a small p
    check_path(simd, run, (expected,), rtol=2e-5, atol=2e-6, path_ulps=PATH_ULPS)


def test_decay_clip_and_reductions_on_every_path(simd, rng):
    x = rng.normal(size=(700, 301)).astype(np.float32)

    def run():
        p = x.ravel().copy()
        ops.decay_weights(p, 0.01)
        c = x.ravel() * 3
        ops.clip_values(c, 1.5)
        return p, c, ops.bias_grad(x), np.float64(ops.l2_norm(x))
    reference = (x.ravel().astype(np.float64) * 0.99, np.clip(x.ravel() * 3, -1.5, 1.5),
                 x.astype(np.float64).sum(axis=0), np.linalg.norm(x.astype(np.float64)))
    check_path(simd, run, reference, rtol=1e-6, atol=1e-6, path_ulps=1)


@pytest.mark.parametrize("kind", ["binary", "categorical", "sparse_categorical", "top_k", "sparse_top_k"])
def test_accuracy_counts_on_every_path(kind, simd, rng):
    from test_metrics import numpy_accuracy_counts
    rows, cols = 2000, 7
    p = rng.uniform(size=(rows, cols)).astype(np.float32)
    if kind == "binary":
        y = (rng.uniform(size=(rows, cols)) > 0.5).astype(np.float32)
    elif kind.startswith("sparse"):
        y = rng.integers(0, cols, size=rows)
    else:
        y = np.eye(cols, dtype=np.float32)[rng.integers(0, cols, size=rows)]
    w = rng.uniform(0.1, 2.0, size=rows).astype(np.float32)

    def run():
        return (np.asarray(ops.accuracy_counts(kind, y, p, w, threshold=0.5, k=2), np.float64),)
    expected = np.asarray(numpy_accuracy_counts(kind, y, p, w, k=2), np.float64)
    check_path(simd, run, (expected,), rtol=1e-12, atol=0.0, path_ulps=0)
