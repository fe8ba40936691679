"""Keras's rules for how targets, predictions and sample weights line up: the one place fastnn writes them.

The C bindings check only what memory safety needs (dtype, contiguity, sizes); the ops, losses and
metrics apply these rules before calling them.
"""
import numpy as np

__all__ = ["target_like", "same_rank", "row_weights", "row_labels", "broadcast_weights"]

_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)


def target_like(y_true, shape, what):
    """y_true viewed with y_pred's `shape`: it must have that shape, or differ from it by a trailing
    axis of size 1 (which Keras squeezes or adds)."""
    if y_true.shape == shape:
        return y_true
    if y_true.shape + (1,) == shape or y_true.shape == shape + (1,):
        return y_true.reshape(shape)
    raise ValueError(f"{what}: y_true has shape {y_true.shape} but y_pred has shape {shape}")


def same_rank(y_true, y_pred):
    """(y_true, y_pred) as arrays of one shape, as Keras's metrics line them up: (B,) against (B, 1)
    become (B, 1) both, (B, T) against (B, T, 1) lose the 1, and a 1-D pair holds one value per sample."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_pred, y_true = (y_pred[:, None], y_true) if y_pred.ndim == 1 else (y_pred, y_true[..., 0])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true, y_pred = (y_true[:, None], y_pred) if y_true.ndim == 1 else (y_true, y_pred[..., 0])
    if y_pred.ndim == 1 and y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} and y_pred {y_pred.shape}; they must match")
    return y_true, y_pred


def row_weights(sample_weight, lead, what):
    """sample_weight as C-contiguous float32 of shape `lead` (y_pred.shape[:-1]): one weight per row.
    A trailing 1 may be extra, and (B,) weights for (B, T, C) predictions weigh every step of a sample."""
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{what}: sample_weight must hold numbers, got dtype {w.dtype}")
    if w.shape == lead + (1,):
        w = w.reshape(lead)
    elif w.shape != lead:
        if not (w.ndim < len(lead) and lead[:w.ndim] == w.shape):
            raise ValueError(f"{what}: sample_weight must have shape {lead} (one weight per sample), got {w.shape}")
        w = np.broadcast_to(w.reshape(w.shape + (1,) * (len(lead) - w.ndim)), lead)
    return np.ascontiguousarray(w, dtype=_F32)


def row_labels(labels, lead, what):
    """Integer class labels as C-contiguous int64 of shape `lead`, one per row of y_pred (a trailing 1
    may be extra); float labels must be whole numbers (Keras casts them)."""
    lab = np.asarray(labels)
    if lab.dtype.kind == "f":
        if not (np.isfinite(lab).all() and np.array_equal(np.floor(lab), lab)):
            raise ValueError(f"{what}: labels must be whole numbers (class indices)")
    elif lab.dtype.kind not in "biu":
        raise TypeError(f"{what}: labels must be integer class indices, got dtype {lab.dtype}")
    if lab.shape == lead + (1,):
        lab = lab.reshape(lead)
    elif lab.shape != lead:
        raise ValueError(f"{what}: labels must have shape {lead} (or {lead + (1,)}), got {lab.shape}")
    return np.require(lab, _I64, ("C_CONTIGUOUS", "ALIGNED"))  # copies an array at an odd byte offset too


def broadcast_weights(sample_weight, shape):
    """sample_weight as float64 broadcast to `shape`: trailing size-1 axes dropped, missing ones added."""
    weights = np.asarray(sample_weight, dtype=np.float64)
    while weights.ndim > len(shape) and weights.shape[-1] == 1:
        weights = weights[..., 0]
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    try:
        return np.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not broadcast to {shape}") from None
