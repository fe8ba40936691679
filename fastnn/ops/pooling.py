"""Max and average pooling of channels-last images and sequences, windowed and global, forward and
backward, with Keras's arguments. Max pooling's backward routes each window's gradient to its first
maximal cell, found again from x and y; Keras's 'same' average excludes the padded cells."""
import numpy as np

from .. import _C
from ._window import image_operand, int_tuple, output, padding_mode, window_axis

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "max_pool1d", "max_pool1d_backward", "avg_pool1d", "avg_pool1d_backward",
           "global_max_pool2d", "global_max_pool2d_backward", "global_avg_pool2d", "global_avg_pool2d_backward",
           "global_max_pool1d", "global_max_pool1d_backward", "global_avg_pool1d", "global_avg_pool1d_backward"]


def _window(x_shape, pool_size, strides, padding, rank, what):
    """((out_h, out_w), (pool_h, pool_w, stride_h, stride_w, pad_top, pad_left)) of an NHWC pool; 1-D
    pools are one-row images."""
    pool = int_tuple(pool_size, rank, "pool_size", what)
    stride = pool if strides is None else int_tuple(strides, rank, "strides", what)
    if rank == 1:
        pool, stride = (1,) + pool, (1,) + stride
    mode = padding_mode(padding, what)
    rows = window_axis(x_shape[1], pool[0], stride[0], mode, what, "rows")
    cols = window_axis(x_shape[2], pool[1], stride[1], mode, what, "steps" if rank == 1 else "columns")
    return (rows[0], cols[0]), (pool[0], pool[1], stride[0], stride[1], rows[1], cols[1])


def _forward(kind, x, pool_size, strides, padding, out, rank):
    what = f"{kind}_pool{rank}d"
    x = image_operand(x, rank + 2, what)
    x4 = x[:, None] if rank == 1 else x
    out_hw, window = _window(x4.shape, pool_size, strides, padding, rank, what)
    y = output(out, (x4.shape[0], *out_hw[rank == 1:], x4.shape[3]), what)
    _C.pool2d_forward(kind, x4, y[:, None] if rank == 1 else y, window)
    return y


def _backward(kind, x, y, dy, pool_size, strides, padding, out, rank):
    what = f"{kind}_pool{rank}d_backward"
    x = image_operand(x, rank + 2, what)
    dy = image_operand(dy, rank + 2, what, "dy")
    if kind == "max":
        y = image_operand(y, rank + 2, what, "y")
    x4, dy4 = (x[:, None], dy[:, None]) if rank == 1 else (x, dy)
    y4 = y[:, None] if rank == 1 and y is not None else y
    out_hw, window = _window(x4.shape, pool_size, strides, padding, rank, what)
    expected = (x4.shape[0], *out_hw, x4.shape[3])
    if dy4.shape != expected:
        raise ValueError(f"{what}: dy must have shape {expected[:1] + expected[2:] if rank == 1 else expected}, "
                         f"got {dy.shape}")
    dx = output(out, x.shape, what)
    _C.pool2d_backward(kind, x4, y4 if kind == "max" else None, dy4, dx[:, None] if rank == 1 else dx, window)
    return dx


def max_pool2d(x, pool_size, strides=None, padding="valid", *, out=None):
    """Max pooling of (batch, height, width, channels) images.

    Args:
        x: the images.
        pool_size: an int or a (rows, columns) pair.
        strides: an int or a pair; None is pool_size (Keras's default).
        padding: 'valid' or 'same'.
        out: optional float32 array for the (batch, out_h, out_w, channels) result.

    Returns:
        The window maxima; a window holding NaN pools to NaN.

    Example:
        >>> fastnn.ops.max_pool2d(np.arange(16.0).reshape(1, 4, 4, 1), 2)[..., 0]
        array([[[ 5.,  7.],
                [13., 15.]]], dtype=float32)
    """
    return _forward("max", x, pool_size, strides, padding, out, 2)


def max_pool2d_backward(x, y, dy, pool_size, strides=None, padding="valid", *, out=None):
    """dx of max_pool2d: each window's dy goes to its first cell equal to y (the first NaN when y is NaN).

    Args:
        x, y: the forward's input and output.
        dy: the gradient with respect to y.
        pool_size, strides, padding: as the forward's.
        out: optional float32 array of x's shape.
    """
    return _backward("max", x, y, dy, pool_size, strides, padding, out, 2)


def avg_pool2d(x, pool_size, strides=None, padding="valid", *, out=None):
    """Average pooling of (batch, height, width, channels) images: each window's mean over its cells
    inside the image (so 'same' padding does not count the padded cells, as Keras). Arguments as
    max_pool2d's."""
    return _forward("avg", x, pool_size, strides, padding, out, 2)


def avg_pool2d_backward(x, y, dy, pool_size, strides=None, padding="valid", *, out=None):
    """dx of avg_pool2d; x gives the input's shape and y is not read (it may be None), so that both
    pools' backward take the same arguments."""
    return _backward("avg", x, y, dy, pool_size, strides, padding, out, 2)


def max_pool1d(x, pool_size, strides=None, padding="valid", *, out=None):
    """Max pooling of (batch, steps, channels) sequences; pool_size and strides are ints."""
    return _forward("max", x, pool_size, strides, padding, out, 1)


def max_pool1d_backward(x, y, dy, pool_size, strides=None, padding="valid", *, out=None):
    """dx of max_pool1d."""
    return _backward("max", x, y, dy, pool_size, strides, padding, out, 1)


def avg_pool1d(x, pool_size, strides=None, padding="valid", *, out=None):
    """Average pooling of (batch, steps, channels) sequences."""
    return _forward("avg", x, pool_size, strides, padding, out, 1)


def avg_pool1d_backward(x, y, dy, pool_size, strides=None, padding="valid", *, out=None):
    """dx of avg_pool1d (y is not read)."""
    return _backward("avg", x, y, dy, pool_size, strides, padding, out, 1)


def _global_forward(kind, x, keepdims, out, rank):
    what = f"global_{kind}_pool{rank}d"
    x = image_operand(x, rank + 2, what)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    kept = (x.shape[0],) + (1,) * rank + (x.shape[-1],)
    y = output(out, kept if keepdims else (x.shape[0], x.shape[-1]), what)
    _C.global_pool_forward(kind, flat, y.reshape(flat.shape[0], flat.shape[2]))
    return y


def _global_backward(kind, x, y, dy, out, rank):
    what = f"global_{kind}_pool{rank}d_backward"
    x = image_operand(x, rank + 2, what)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    rows = (flat.shape[0], flat.shape[2])
    dy = image_operand(dy, np.ndim(dy), what, "dy")
    if dy.size != rows[0] * rows[1]:
        raise ValueError(f"{what}: dy must have shape {rows} (or with keepdims), got {dy.shape}")
    if kind == "max":
        y = image_operand(y, np.ndim(y), what, "y").reshape(rows)
    dx = output(out, x.shape, what)
    _C.global_pool_backward(kind, flat, y if kind == "max" else None, dy.reshape(rows), dx.reshape(flat.shape))
    return dx


def global_max_pool2d(x, keepdims=False, *, out=None):
    """The maximum of each image's channels over its pixels: (batch, channels), or (batch, 1, 1,
    channels) with keepdims."""
    return _global_forward("max", x, keepdims, out, 2)


def global_max_pool2d_backward(x, y, dy, *, out=None):
    """dx of global_max_pool2d: each channel's dy at its first maximal pixel; y and dy with or without keepdims."""
    return _global_backward("max", x, y, dy, out, 2)


def global_avg_pool2d(x, keepdims=False, *, out=None):
    """The mean of each image's channels over its pixels (summed in float64)."""
    return _global_forward("avg", x, keepdims, out, 2)


def global_avg_pool2d_backward(x, y, dy, *, out=None):
    """dx of global_avg_pool2d: dy / pixels at every pixel (y is not read and may be None)."""
    return _global_backward("avg", x, y, dy, out, 2)


def global_max_pool1d(x, keepdims=False, *, out=None):
    """The maximum of each sequence's channels over its steps."""
    return _global_forward("max", x, keepdims, out, 1)


def global_max_pool1d_backward(x, y, dy, *, out=None):
    return _global_backward("max", x, y, dy, out, 1)


def global_avg_pool1d(x, keepdims=False, *, out=None):
    """The mean of each sequence's channels over its steps."""
    return _global_forward("avg", x, keepdims, out, 1)


def global_avg_pool1d_backward(x, y, dy, *, out=None):
    return _global_backward("avg", x, y, dy, out, 1)
