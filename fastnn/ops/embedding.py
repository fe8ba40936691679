"""Embedding lookup and its sparse gradient on fastnn's C kernels."""
import numpy as np

from .. import _C
from ._convert import as_contiguous_float32

__all__ = ["embedding_lookup", "embedding_backward"]


def _ids(ids, what):
    """ids as a C-contiguous int64 array; floats, strings and ragged lists are refused (TypeError)."""
    if isinstance(ids, np.ndarray) and ids.dtype == np.int64 and ids.flags.c_contiguous and ids.flags.aligned:
        return ids
    try:
        arr = np.asarray(ids)
    except ValueError as exc:  # ragged nested lists
        raise TypeError(f"{what}: ids must be a rectangular array of integers: {exc}") from None
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{what}: ids must be integers, got dtype {arr.dtype}")
    return np.require(arr, np.int64, ("C_CONTIGUOUS", "ALIGNED"))  # copies an array at an odd byte offset too


def embedding_lookup(ids, table, *, out=None):
    """The rows of table at ids.

    Args:
        ids: integer array of any shape, every id in [0, input_dim).
        table: (input_dim, output_dim) embedding matrix.
        out: optional float32 array of shape ids.shape + (output_dim,) to write into.

    Returns:
        float32 array of shape ids.shape + (output_dim,).

    Raises:
        TypeError: ids are not integers. ValueError: an id out of range (its value and position are named).

    Example:
        >>> fastnn.ops.embedding_lookup([[0, 2]], np.eye(3)).shape
        (1, 2, 3)
    """
    return _C.embedding_gather(_ids(ids, "embedding_lookup"), as_contiguous_float32(table, "embedding_lookup: table"),
                               out)


def embedding_backward(ids, dy, input_dim):
    """The gradient of embedding_lookup as a sparse, deterministic scatter-add.

    Args:
        ids: the lookup's ids.
        dy: gradient of the lookup's output, shape ids.shape + (output_dim,).
        input_dim: rows of the table.

    Returns:
        (rows, row_grads): the distinct ids in increasing order (int64, (n,)) and, for each, the sum of
        dy at its positions, added in position order whatever the thread count (float32, (n, output_dim)).
        The dense gradient is zero except table_grad[rows] = row_grads.
    """
    return _C.embedding_backward(_ids(ids, "embedding_backward"),
                                 as_contiguous_float32(dy, "embedding_backward: dy"), int(input_dim))
