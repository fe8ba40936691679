"""Batch invariance of the GEMM: every row of act(op(A) @ op(B) + bias) has the same bits whether it is
computed alone (the one-row kernel), inside batches of any size and at any position in them, or in the
whole product, on every SIMD path and for 1 and 2 threads. The batch sizes move the product across the
driver's paths: operands read in place or packed, M, N or K split between threads, edge tiles."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.ops.linalg import EPILOGUE_ACTIVATIONS

# (M, N, K): small (read in place), mid-size (packed, several K blocks), rows 4 KiB apart (A and B
# packed however small the batch), narrow and deep (K split between threads), tall (M split), wide
# (N split), and a one-column product.
SHAPES = [(70, 45, 33), (150, 130, 300), (100, 1024, 1024), (18, 40, 2100), (300, 40, 520), (30, 700, 150),
          (25, 1, 90)]
# Batch sizes around the register tiles (6, 12 rows) and the thresholds of the driver.
BATCHES = [1, 2, 3, 5, 11, 12, 13, 25, 49, 64, 65, 97, 200]


def bits(x):
    return np.ascontiguousarray(x).view(np.uint32)


def product(a, b, rows, trans_a, trans_b, bias, act):
    """Rows `rows` (a slice) of the product, computed as a batch of their own."""
    a_rows = np.ascontiguousarray(a[:, rows] if trans_a else a[rows])
    return _C.sgemm(a_rows, b, None, trans_a, trans_b, False, bias, EPILOGUE_ACTIVATIONS.index(act),
                    0.1 if act in ("leaky_relu", "elu") else 0.0)


def check_rows_match_batches(rng, m, n, k, trans_a, trans_b, bias, act):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    whole = bits(product(a, b, slice(0, m), trans_a, trans_b, bias, act))
    for row in sorted({0, 1, m // 2, m - 1}):
        for size in [s for s in BATCHES if s <= m]:
            # the row first, last and in the middle of a batch of this size
            for offset in sorted({0, size - 1, size // 2}):
                start = min(max(row - offset, 0), m - size)
                got = bits(product(a, b, slice(start, start + size), trans_a, trans_b, bias, act))
                assert np.array_equal(got[row - start], whole[row]), \
                    f"row {row} differs inside rows [{start}, {start + size}) of {m}x{n}x{k}"


@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_rows_are_batch_invariant(simd, nthreads, rng, m, n, k, trans_a, trans_b):
    bias = rng.standard_normal(n).astype(np.float32)
    check_rows_match_batches(rng, m, n, k, trans_a, trans_b, bias, "tanh")


@pytest.mark.parametrize("act", EPILOGUE_ACTIVATIONS)
@pytest.mark.parametrize("with_bias", [False, True])
def test_every_epilogue_is_batch_invariant(simd, nthreads, rng, act, with_bias):
    bias = rng.standard_normal(130).astype(np.float32) if with_bias else None
    check_rows_match_batches(rng, 97, 130, 300, False, False, bias, act)


@pytest.mark.parametrize("trans_b", [False, True])
def test_thread_count_and_path_do_not_change_rows(simd, rng, trans_b):
    """The whole product on one thread, on two, and row by row through the one-row kernel agree."""
    m, n, k = 48, 200, 1300
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append(bits(product(a, b, slice(0, m), False, trans_b, bias, "gelu")))
            results.append(np.concatenate([bits(product(a, b, slice(i, i + 1), False, trans_b, bias, "gelu"))
                                           for i in range(m)]))
    for other in results[1:]:
        assert np.array_equal(other, results[0])
