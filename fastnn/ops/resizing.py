"""UpSampling2D, ZeroPadding2D and Cropping2D as functional ops, forward and backward. Upsampling
runs on fastnn's kernels (nearest, and bilinear with tf.image.resize's half-pixel centres);
padding and cropping are NumPy copies."""
import numpy as np

from .. import _C
from ._window import image_operand, int_tuple, output

__all__ = ["upsampling2d", "upsampling2d_backward", "zero_padding2d", "zero_padding2d_backward", "cropping2d",
           "cropping2d_backward"]


def _interpolation(interpolation, what):
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"{what}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    return interpolation


def upsampling2d(x, size=(2, 2), interpolation="nearest", *, out=None):
    """Upsample (batch, height, width, channels) images by whole factors.

    Args:
        x: the images.
        size: an int or a (rows, columns) pair of factors, each >= 1.
        interpolation: 'nearest' (each pixel repeated) or 'bilinear' (as Keras's UpSampling2D).
        out: optional float32 array for the (batch, height * rows, width * columns, channels) result.
    """
    what = "upsampling2d"
    x = image_operand(x, 4, what)
    sh, sw = int_tuple(size, 2, "size", what)
    y = output(out, (x.shape[0], x.shape[1] * sh, x.shape[2] * sw, x.shape[3]), what)
    if y.size:
        _C.upsample_forward(_interpolation(interpolation, what), x, y)
    return y


def upsampling2d_backward(dy, size=(2, 2), interpolation="nearest", *, out=None):
    """dx of upsampling2d for dy (batch, height * rows, width * columns, channels)."""
    what = "upsampling2d_backward"
    dy = image_operand(dy, 4, what, "dy")
    sh, sw = int_tuple(size, 2, "size", what)
    if dy.shape[1] % sh or dy.shape[2] % sw:
        raise ValueError(f"{what}: dy of shape {dy.shape} is not an upsampling by {(sh, sw)}")
    dx = output(out, (dy.shape[0], dy.shape[1] // sh, dy.shape[2] // sw, dy.shape[3]), what)
    if dx.size:
        _C.upsample_backward(_interpolation(interpolation, what), dy, dx)
    return dx


def _margins(value, name, what):
    """Keras's padding/cropping forms: int, (rows, columns) or ((top, bottom), (left, right))."""
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{what}: {name} must be an int, a pair or a pair of pairs, got {value!r}")
    pairs = tuple(int_tuple(v, 2, name, what, 0) if isinstance(v, (tuple, list)) else int_tuple(v, 1, name, what, 0) * 2
                  for v in value)
    return pairs


def zero_padding2d(x, padding=1):
    """(batch, height, width, channels) images with zero rows and columns added around them."""
    (top, bottom), (left, right) = _margins(padding, "padding", "zero_padding2d")
    return np.pad(image_operand(x, 4, "zero_padding2d"), ((0, 0), (top, bottom), (left, right), (0, 0)))


def zero_padding2d_backward(dy, padding=1):
    """dx of zero_padding2d: dy without the padded rows and columns."""
    return cropping2d(dy, padding)


def cropping2d(x, cropping=((0, 0), (0, 0))):
    """(batch, height, width, channels) images without `cropping` rows and columns at their edges."""
    what = "cropping2d"
    x = image_operand(x, 4, what)
    (top, bottom), (left, right) = _margins(cropping, "cropping", what)
    if top + bottom >= x.shape[1] or left + right >= x.shape[2]:
        raise ValueError(f"{what}: cropping {cropping!r} leaves nothing of an image of {x.shape[1:3]}")
    return np.ascontiguousarray(x[:, top:x.shape[1] - bottom, left:x.shape[2] - right])


def cropping2d_backward(dy, cropping=((0, 0), (0, 0))):
    """dx of cropping2d: dy with zeros where the crop removed rows and columns."""
    return zero_padding2d(dy, cropping)
