"""The GEMM (fastnn.ops.matmul / dense / _C.sgemm) against float64 NumPy, on every SIMD path and thread count."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.ops.nn import ACTIVATIONS

import reference as ref

ACTS = [None, "relu", "sigmoid", "tanh"]
# 1, primes, register-tile sizes +-1 (6x16 AVX2, 12x32 AVX-512, 4x8 portable), cache-block edges
# (mc 96/128/144, kc 256/384) +-1, one-row products, and shapes large enough to split across threads and
# K blocks; in LARGE, rows 4 KiB apart (packed rather than read in place), more columns than one
# B block holds (nc 2048-4096), and more of B than threads share in one round (2M floats).
SHAPES = [(1, 1, 1), (1, 7, 1), (3, 5, 7), (5, 15, 17), (6, 16, 8), (7, 17, 9), (11, 31, 33), (12, 32, 13),
          (13, 33, 29), (4, 8, 255), (8, 9, 256), (9, 4, 257), (143, 47, 31), (145, 33, 3),
          (97, 101, 103), (95, 17, 383), (96, 9, 384), (193, 20, 385), (127, 129, 300), (200, 150, 520),
          (1, 700, 300), (1, 257, 13)]
LARGE = [(300, 260, 530), (64, 700, 300), (1, 1100, 900), (130, 70, 1024), (40, 4200, 20), (40, 1100, 2000)]


def operands(rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


def guarded_output(rng, m, n, fill=None):
    """A C-contiguous (m, n) view into a larger buffer whose margins hold a sentinel value."""
    buf = np.full(m * n + 64, 12345.0, dtype=np.float32)
    out = buf[32:32 + m * n].reshape(m, n)
    out[...] = rng.standard_normal((m, n)) if fill is None else fill
    return buf, out


def check_guards(buf, m, n):
    assert np.all(buf[:32] == 12345.0) and np.all(buf[32 + m * n:] == 12345.0), "write outside the output"


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matmul_matches_reference(simd, nthreads, rng, m, n, k, trans_a, trans_b):
    a, b = operands(rng, m, n, k, trans_a, trans_b)
    buf, out = guarded_output(rng, m, n)
    fastnn.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, out=out)
    check_guards(buf, m, n)
    np.testing.assert_allclose(out, ref.gemm(a, b, trans_a, trans_b), rtol=0, atol=ref.gemm_tolerance(k, 3))


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 17, 9), (13, 33, 29), (127, 129, 300), (50, 40, 0)])
def test_fused_epilogue_accumulate_bias_activation(simd, nthreads, rng, m, n, k, act):
    a, b = operands(rng, m, n, k, False, True)
    bias = rng.standard_normal(n).astype(np.float32)
    buf, out = guarded_output(rng, m, n)
    start = out.copy()
    _C.sgemm(a, b, out, False, True, True, bias, ACTIVATIONS.index(act or "linear"))
    check_guards(buf, m, n)
    expected = ref.gemm(a, b, False, True, c=start, bias=bias, act=act)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=ref.gemm_tolerance(k, 3))


@pytest.mark.parametrize("m,n,k", SHAPES[::3] + LARGE)
def test_blocked_driver_matches_naive_kernel(simd, rng, m, n, k):
    a, b = operands(rng, m, n, k, True, False)
    bias = rng.standard_normal(n).astype(np.float32)
    fast = np.empty((m, n), np.float32)
    naive = np.empty((m, n), np.float32)
    _C.sgemm(a, b, fast, True, False, False, bias, 1)
    _C.sgemm(a, b, naive, True, False, False, bias, 1, reference=True)
    np.testing.assert_allclose(fast, naive, rtol=1e-5, atol=ref.gemm_tolerance(k, 2))


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
@pytest.mark.parametrize("m,n,k", LARGE + [(512, 64, 1000), (40, 900, 700), (100, 1100, 300)])
def test_results_identical_for_one_and_two_threads(simd, rng, m, n, k, trans_a, trans_b):
    a, b = operands(rng, m, n, k, trans_a, trans_b)
    bias = rng.standard_normal(n).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append(fastnn.ops.dense(a.T if trans_a else a, b.T if trans_b else b, bias, "tanh"))
    assert np.array_equal(results[0], results[1])


def test_simd_paths_agree_closely(rng):
    if len([p for p in _C.SIMD_PATHS if _C.cpu_supports(p)]) < 2:
        pytest.skip("this CPU has one SIMD path only")
    a, b = operands(rng, 70, 90, 300, False, False)
    results = []
    previous = _C.simd_get()
    try:
        for path in [p for p in _C.SIMD_PATHS if _C.cpu_supports(p)]:
            _C.simd_set(path)
            results.append(fastnn.ops.dense(a, b, None, "sigmoid"))
    finally:
        _C.simd_set(previous)
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-5, atol=1e-5)


def test_dense_matches_reference(rng):
    x = rng.standard_normal((33, 20))
    w = rng.standard_normal((20, 7))
    b = rng.standard_normal(7)
    for act in ACTS + ["linear"]:
        got = fastnn.ops.dense(x, w, b, act)
        assert got.dtype == np.float32 and got.shape == (33, 7)
        np.testing.assert_allclose(got, ref.gemm(x.astype(np.float32), w.astype(np.float32), bias=b.astype(np.float32),
                                                 act=act), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fastnn.ops.dense(x, w), ref.gemm(x, w), rtol=1e-5, atol=1e-4)


def test_activation_edges_saturate_cleanly(simd):
    x = np.array([[-1000.0, -88.0, -20.0, -1e-6, 0.0, 1e-6, 0.2, 0.3, 20.0, 88.0, 1000.0]], np.float32)
    eye = np.ones((1, 1), np.float32)
    for act in ("sigmoid", "tanh", "relu"):
        got = fastnn.ops.dense(x.T, eye, None, act).ravel()
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, ref.activation(x.ravel(), act), rtol=2e-6, atol=1e-7)


def test_array_likes_views_and_dtypes(rng):
    a = rng.standard_normal((20, 30))
    b = rng.standard_normal((30, 10))
    expected = ref.gemm(a.astype(np.float32), b.astype(np.float32))
    tol = ref.gemm_tolerance(30, 3)
    np.testing.assert_allclose(fastnn.ops.matmul(a.tolist(), b.tolist()), expected, atol=tol)
    ints = (a * 10).astype(np.int64)
    np.testing.assert_allclose(fastnn.ops.matmul(ints, b), ref.gemm(ints, b.astype(np.float32)), rtol=1e-5, atol=1e-3)
    at = np.asfortranarray(a.astype(np.float32))                    # F-ordered: passed as a transposed operand
    np.testing.assert_allclose(fastnn.ops.matmul(at, b), expected, atol=tol)
    big = rng.standard_normal((40, 60)).astype(np.float32)
    strided = big[::2, ::2]                                       # non-contiguous view: copied
    np.testing.assert_allclose(fastnn.ops.matmul(strided, b), ref.gemm(strided, b.astype(np.float32)), atol=tol)
    np.testing.assert_allclose(fastnn.ops.matmul(b.T, a.T), expected.T, atol=tol)
    np.testing.assert_allclose(fastnn.ops.matmul(a, b.T.copy(), trans_b=True), expected, atol=tol)
    np.testing.assert_allclose(fastnn.ops.matmul(np.array([[True, False]]), np.ones((2, 2))), [[1, 1]])


def test_empty_and_zero_k():
    assert fastnn.ops.matmul(np.ones((0, 5)), np.ones((5, 3))).shape == (0, 3)
    assert fastnn.ops.matmul(np.ones((4, 5)), np.ones((5, 0))).shape == (4, 0)
    zero_k = fastnn.ops.matmul(np.ones((4, 0)), np.ones((0, 3)))
    assert zero_k.shape == (4, 3) and np.all(zero_k == 0)
    biased = fastnn.ops.dense(np.ones((2, 0)), np.ones((0, 3)), np.array([1.0, -2.0, 3.0]), "relu")
    np.testing.assert_array_equal(biased, [[1, 0, 3], [1, 0, 3]])


def test_accumulate_adds_into_out(rng):
    a, b = operands(rng, 9, 8, 7, False, False)
    out = np.ones((9, 8), np.float32)
    fastnn.ops.matmul(a, b, out=out, accumulate=True)
    np.testing.assert_allclose(out, 1 + ref.gemm(a, b), atol=1e-5)


@pytest.mark.parametrize("call,error,words", [
    (lambda: fastnn.ops.matmul(np.ones((2, 3)), np.ones((4, 5))), ValueError, ["(2, 3)", "(4, 5)"]),
    (lambda: fastnn.ops.matmul(np.ones((2, 3)), np.ones((2, 5)), trans_a=False), ValueError, ["(2, 3)", "(2, 5)"]),
    (lambda: fastnn.ops.matmul(np.ones(3), np.ones((3, 5))), ValueError, ["2-D", "(3,)"]),
    (lambda: fastnn.ops.matmul([["a", "b"]], np.ones((2, 2))), TypeError, ["real numbers"]),
    (lambda: fastnn.ops.matmul([[1, 2], [3]], np.ones((2, 2))), TypeError, ["real numbers"]),
    (lambda: fastnn.ops.matmul(np.ones((2, 2), complex), np.ones((2, 2))), TypeError, ["complex"]),
    (lambda: fastnn.ops.matmul(object(), np.ones((2, 2))), TypeError, ["real numbers"]),
    (lambda: fastnn.ops.matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((3, 2), np.float32)), ValueError, ["(3, 2)", "(2, 2)"]),
    (lambda: fastnn.ops.matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((2, 2))), TypeError, ["float32"]),
    (lambda: fastnn.ops.matmul(np.ones((2, 2)), np.ones((2, 2)), accumulate=True), ValueError, ["out="]),
    (lambda: fastnn.ops.dense(np.ones((2, 2)), np.ones((2, 3)), np.ones(4)), ValueError, ["(3,)", "(4,)"]),
    (lambda: fastnn.ops.dense(np.ones((2, 2)), np.ones((2, 3)), activation="swishy"), ValueError, ["relu", "swishy"]),
])
def test_bad_input_raises_clear_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_binding_rejects_what_the_kernel_would_trust():
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError):
        _C.sgemm(a, a, a)                                     # output aliases an input
    with pytest.raises(TypeError):
        _C.sgemm(a, a, np.ones((4, 4)))                       # float64 output
    with pytest.raises(TypeError):
        _C.sgemm(a[:, ::2], a[::2], np.empty((4, 2), np.float32))  # non-contiguous input
    readonly = np.empty((4, 4), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        _C.sgemm(a, a.copy(), readonly)
    with pytest.raises(ValueError):
        _C.sgemm(a, a.copy(), np.empty((4, 4), np.float32), act=9)
    with pytest.raises(ValueError):
        _C.sgemm(a, a.copy(), np.empty((4, 4), np.float32), bias=np.ones(3, np.float32))
    with pytest.raises(TypeError):
        _C.sgemm([[1.0]], a, a.copy())
    shared = np.ones((8, 4), np.float32)
    with pytest.raises(ValueError, match="share memory"):
        fastnn.ops.matmul(shared[:4], np.ones((4, 4), np.float32), out=shared[:4])


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    a, b = operands(rng, 67, 45, 123, False, False)
    bias = rng.standard_normal(45).astype(np.float32)
    expected = torch.relu(torch.from_numpy(a) @ torch.from_numpy(b) + torch.from_numpy(bias)).numpy()
    np.testing.assert_allclose(fastnn.ops.dense(a, b, bias, "relu"), expected, rtol=1e-5, atol=1e-4)


def test_binding_refuses_none_operands():
    out = np.empty((2, 2), np.float32)
    for args in [(None, out, out.copy()), (out, None, out.copy())]:
        with pytest.raises(TypeError):
            _C.sgemm(*args)


def test_concurrent_calls_from_python_threads_agree_with_serial_ones(rng):
    """The kernels release the GIL and keep pack buffers per OS thread: products run at the same time
    from several Python threads, each with its own team, give exactly the serial results."""
    from concurrent.futures import ThreadPoolExecutor
    shapes = [(300, 260, 530), (256, 784, 256), (40, 900, 700), (130, 70, 1024)]
    problems = [(*operands(rng, m, n, k, False, trans_b), trans_b)
                for m, n, k in shapes for trans_b in (False, True)]

    def product(problem):
        a, b, trans_b = problem
        return fastnn.ops.matmul(a, b, trans_b=trans_b)

    with fastnn.threads(2):
        serial = [product(p) for p in problems]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(3):
                for expected, got in zip(serial, pool.map(product, problems)):
                    assert np.array_equal(expected, got)


def test_blocking_in_use_is_reported(capsys):
    info = _C.gemm_blocking()
    path = _C.simd_get()
    assert info["kernel"].startswith(path)
    assert info["mc"] % info["mr"] == 0 and info["nc"] % info["nr"] == 0 and info["kc"] >= 128
    assert info["source"] in _C.CACHE_SOURCES and len(info["caches"]) == 3
    if info["source"] != _C.CACHE_SOURCES[0]:
        l1, l2 = info["caches"][:2]
        assert 0 < l1["size"] < l2["size"] and l1["size"] == l1["ways"] * l1["sets"] * l1["line"]
    fastnn.show_config()
    assert f"mc {info['mc']} kc {info['kc']} nc {info['nc']}" in capsys.readouterr().out


def test_fma_peak_is_measured():
    one = _C.fma_peak(1)
    assert one > 0.1
    with pytest.raises(ValueError):
        _C.fma_peak(0)
