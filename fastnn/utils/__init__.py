"""Keras's utilities for preparing data: to_categorical (and more as they are added)."""
import numpy as np

__all__ = ["to_categorical"]


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
