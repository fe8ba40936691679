"""fastnn.ops.embedding_lookup and embedding_backward: gather, sparse deterministic scatter-add, bad ids."""
import re

import numpy as np
import pytest

import fastnn
from fastnn import ops

import reference as ref


@pytest.mark.parametrize("ids_shape,input_dim,dim", [((7,), 5, 3), ((4, 9), 300, 16), ((0,), 3, 2), ((2, 0), 3, 4),
                                                     ((64, 50), 70000, 33), ((3,), 1, 1)])
def test_lookup_and_backward_vs_reference(ids_shape, input_dim, dim, nthreads, rng):
    ids = rng.integers(0, input_dim, size=ids_shape)
    table = rng.normal(size=(input_dim, dim)).astype(np.float32)
    out = ops.embedding_lookup(ids, table)
    assert out.shape == ids_shape + (dim,) and out.dtype == np.float32
    np.testing.assert_array_equal(out, table[ids])
    dy = rng.normal(size=out.shape).astype(np.float32)
    rows, grads = ops.embedding_backward(ids, dy, input_dim)
    assert rows.dtype == np.int64 and grads.dtype == np.float32
    np.testing.assert_array_equal(rows, np.unique(ids))
    dense = np.zeros((input_dim, dim))
    dense[rows] = grads
    np.testing.assert_allclose(dense, ref.embedding_backward(ids, dy, input_dim), rtol=1e-5, atol=1e-5)


def test_backward_sums_in_position_order_whatever_the_threads(rng):
    """Each row's sum is over its positions in order: the bits match a sequential float32 sum."""
    ids = rng.integers(0, 40, size=20000)
    dy = rng.normal(size=(20000, 24)).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append(ops.embedding_backward(ids, dy, 40))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    for k, row in enumerate(results[0][0][:5]):
        total = np.zeros(24, np.float32)
        for i in np.flatnonzero(ids == row):
            total += dy[i]
        np.testing.assert_array_equal(results[0][1][k], total)


def test_large_ids_sort_on_every_byte(rng):
    ids = np.array([2 ** 40 + 5, 3, 2 ** 40 + 5, 2 ** 33, 3, 0], np.int64)
    dy = np.arange(12, dtype=np.float32).reshape(6, 2)
    rows, grads = ops.embedding_backward(ids, dy, 2 ** 41)
    np.testing.assert_array_equal(rows, [0, 3, 2 ** 33, 2 ** 40 + 5])
    np.testing.assert_array_equal(grads, [[10, 11], [10, 12], [6, 7], [4, 6]])


def test_lookup_writes_only_its_out(rng):
    table = rng.normal(size=(6, 4)).astype(np.float32)
    buf = np.full(3 * 4 + 32, 1234.5, np.float32)
    out = buf[16:28].reshape(3, 4)
    ops.embedding_lookup(np.array([5, 0, 2]), table, out=out)
    np.testing.assert_array_equal(out, table[[5, 0, 2]])
    assert np.all(buf[:16] == 1234.5) and np.all(buf[28:] == 1234.5)


@pytest.mark.parametrize("bad,position", [(7, (1, 2)), (-1, (0, 0))])
def test_out_of_range_ids_are_named(bad, position):
    ids = np.array([[0, 1, 2], [3, 4, 0]])
    ids[position] = bad
    table = np.zeros((7, 2), np.float32)
    message = re.escape(f"id {bad} at position {position} is out of range [0, 7)")
    with pytest.raises(ValueError, match=message):
        ops.embedding_lookup(ids, table)
    with pytest.raises(ValueError, match=message):
        ops.embedding_backward(ids, np.zeros((2, 3, 2), np.float32), 7)


def test_float_and_ragged_ids_are_refused():
    table = np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match="ids must be integers, got dtype float64"):
        ops.embedding_lookup(np.array([0.0, 1.0]), table)
    with pytest.raises(TypeError, match="rectangular array of integers"):
        ops.embedding_lookup([[0, 1], [2]], table)
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.embedding_backward(np.array([0, 1]), np.zeros((3, 2), np.float32), 4)
