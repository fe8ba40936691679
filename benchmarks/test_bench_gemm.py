"""pytest-benchmark cases for the GEMM (run: python -m pytest benchmarks --benchmark-only)."""
import numpy as np
import pytest

import fastnn

SHAPES = [(1024, 1024, 1024), (256, 784, 256), (32, 784, 128)]


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
def test_matmul(benchmark, impl, m, k, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    fn = (lambda: fastnn.ops.matmul(a, b, out=out)) if impl == "fastnn" else (lambda: np.matmul(a, b, out=out))
    benchmark(fn)


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
def test_dense(benchmark, activation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    w = rng.standard_normal((784, 256)).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)
    out = np.empty((256, 256), np.float32)
    benchmark(lambda: fastnn.ops.dense(x, w, b, activation, out=out))
