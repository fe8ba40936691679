"""Window arithmetic shared by the convolution and pooling ops: Keras's argument forms, paddings and
output sizes, checked with messages that name the op."""
import operator

import numpy as np

from .._C import is_f32
from ._convert import as_float32_operand, check_out


# Sizes, strides and paddings past what any dimension can be (as layers' shapes) are refused, so that the
# kernels' 64-bit window arithmetic never overflows whatever a config says.
MAX_WINDOW = 2 ** 31 - 1


def int_tuple(value, rank, name, what, minimum=1):
    """An int or a sequence of `rank` ints, each >= minimum, as a tuple (Keras's kernel_size, strides...)."""
    items = (value,) * rank if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{what}: {name} must be an int or a tuple of {rank} ints, got {value!r}") from None
    if len(items) != rank:
        raise ValueError(f"{what}: {name} must be an int or a tuple of {rank} ints, got {value!r}")
    if min(items) < minimum or max(items) > MAX_WINDOW:
        raise ValueError(f"{what}: {name} must be >= {minimum} and <= {MAX_WINDOW}, got {value!r}")
    return items


def shape4(shape, what, name):
    """A 4-D shape given as a sequence of ints >= 0 (a scratch-size query's x_shape or w_shape)."""
    try:
        items = tuple(operator.index(v) for v in shape)
    except TypeError:
        raise TypeError(f"{what}: {name} must be a tuple of 4 ints, got {shape!r}") from None
    if len(items) != 4 or min(items) < 0 or max(items) > MAX_WINDOW:
        raise ValueError(f"{what}: {name} must be 4 ints in [0, {MAX_WINDOW}], got {shape!r}")
    return items


def padding_mode(padding, what, allowed=("valid", "same")):
    """Keras's padding string, lower-cased, checked against `allowed`."""
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in allowed:
        raise ValueError(f"{what}: padding must be one of {', '.join(map(repr, allowed))}, got {padding!r}")
    return mode


def window_axis(size, window, stride, mode, what, axis_name):
    """(output size, padding before) of one axis for a window of `window` cells (a dilated kernel's
    span), as Keras computes them: 'valid' keeps windows inside, 'same' gives ceil(size / stride)
    outputs padded evenly (the odd cell after), 'causal' pads window - 1 cells before."""
    if mode == "same":
        out = -(-size // stride)
        return out, max((out - 1) * stride + window - size, 0) // 2
    if mode == "causal":
        return (size - 1) // stride + 1, window - 1
    if size < window:
        raise ValueError(f"{what}: the window ({window} {axis_name}) is larger than the padded input "
                         f"({size} {axis_name}) with padding='valid'")
    return (size - window) // stride + 1, 0


def image_operand(x, rank, what, name="x"):
    """x as a C-contiguous float32 array of rank `rank` (2-D images are 4-D: NHWC)."""
    if not is_f32(x):
        x = as_float32_operand(x, f"{what}: {name}")
    if x.ndim != rank:
        layout = {4: "(batch, height, width, channels)", 3: "(batch, steps, channels)"}.get(rank, f"{rank}-D")
        raise ValueError(f"{what}: {name} must be {layout}, got shape {x.shape}")
    return x


def vector_operand(v, size, what, name):
    """None, or v as a float32 (size,) vector."""
    if v is None:
        return None
    if not is_f32(v):
        v = as_float32_operand(v, f"{what}: {name}")
    if v.shape != (size,):
        raise ValueError(f"{what}: {name} must have shape ({size},), got {v.shape}")
    return v


def output(out, shape, what):
    """A new float32 array of `shape`, or the user's, checked."""
    return np.empty(shape, np.float32) if out is None else check_out(out, shape, what)
