"""Keras's utilities for preparing data (to_categorical, pad_sequences), set_random_seed and clear_session."""
import random

import numpy as np

from .._config import set_seed
from ..backend import clear_session

__all__ = ["to_categorical", "pad_sequences", "set_random_seed", "clear_session"]


def set_random_seed(seed):
    """Seed Python's random, NumPy's global generator and fastnn (fastnn.set_seed), as
    keras.utils.set_random_seed does, so a script's runs repeat exactly."""
    set_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels, as keras.utils.to_categorical.

    Args:
        x: integer labels of any shape (a trailing axis of size 1 is dropped, as Keras does).
        num_classes: the number of classes; max(x) + 1 when None.

    Returns:
        float32 array of shape x.shape + (num_classes,).

    Example:
        >>> fastnn.utils.to_categorical([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f":
        if not (np.isfinite(labels).all() and np.array_equal(labels, np.round(labels))):
            raise ValueError("to_categorical: labels must be whole numbers")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "biu":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {labels.dtype}")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise ValueError(f"to_categorical: num_classes must be a non-negative int, got {num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels.reshape(-1)[(labels.reshape(-1) < 0) | (labels.reshape(-1) >= num_classes)][0]
        raise ValueError(f"to_categorical: label {bad} is outside [0, {num_classes})")
    out = np.zeros(labels.shape + (int(num_classes),), np.float32)
    np.put_along_axis(out, labels[..., None].astype(np.intp), 1.0, axis=-1)
    return out


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pads (or truncates) sequences of different lengths to one length, as keras.utils.pad_sequences.

    Args:
        sequences: a list of sequences (lists or arrays of numbers, or of equally shaped arrays).
        maxlen: the length of every output row; the longest sequence's when None.
        dtype: of the output (Keras's default int32).
        padding: 'pre' or 'post': where the padding goes.
        truncating: 'pre' or 'post': which end of a longer sequence is cut off.
        value: the padding value.

    Returns:
        An array (len(sequences), maxlen) + the elements' shape.

    Example:
        >>> fastnn.utils.pad_sequences([[1, 2], [3, 4, 5, 6]], maxlen=3)
        array([[0, 1, 2],
               [4, 5, 6]], dtype=int32)
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, got {type(sequences).__name__}")
    for name, where in (("padding", padding), ("truncating", truncating)):
        if where not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {where!r}")
    rows = []
    for i, sequence in enumerate(sequences):
        if isinstance(sequence, (str, bytes)) or not hasattr(sequence, "__len__"):
            raise ValueError(f"pad_sequences: sequences[{i}] is not a sequence but {type(sequence).__name__}")
        rows.append(np.asarray(sequence))
    element_shape = next((row.shape[1:] for row in rows if len(row)), ())
    if maxlen is None:
        maxlen = max((len(row) for row in rows), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int or None, got {maxlen!r}")
    dtype = np.dtype(dtype)
    if dtype.kind in "USO" and not isinstance(value, str) and dtype.kind != "O":
        raise ValueError(f"pad_sequences: dtype {dtype} needs a str padding value, got {value!r}")
    out = np.full((len(rows), int(maxlen)) + element_shape, value, dtype=dtype)
    for i, row in enumerate(rows):
        if not len(row) or not maxlen:
            continue
        if row.shape[1:] != element_shape:
            raise ValueError(f"pad_sequences: sequences[{i}] has elements of shape {row.shape[1:]}, the others "
                             f"{element_shape}")
        kept = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
