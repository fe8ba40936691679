"""Convolutions over channels-last images on fastnn's implicit-GEMM kernels (csrc/nn/conv.c):
conv2d and conv1d, forward and backward, with Keras's kernel layouts and paddings.

Every op takes optional output arrays and a float32 `scratch` vector, so that a layer can run it on
memory it owns: `conv2d_scratch_size` says how many floats the kernels need (the packed weights and
one cache block per thread, never the whole patch matrix).
"""
import numpy as np

from .. import _C
from .._C import is_f32
from ._window import image_operand, int_tuple, output, padding_mode, shape4, vector_operand, window_axis
from .linalg import _epilogue

__all__ = ["conv2d", "conv2d_backward", "conv1d", "conv1d_backward", "conv2d_scratch_size"]

_PASSES = {"forward": 0, "backward_data": 1, "backward_filter": 2}


class ConvGeometry:
    """A convolution's window arithmetic: strides, dilations, paddings and output size.

    Attributes:
        out_hw: (out_height, out_width).
        args: the (stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups) the kernels take.
    """

    def __init__(self, in_hw, kernel_hw, strides, padding, dilation_rate, groups, what, modes=("valid", "same"),
                 axis_names=("rows", "columns")):
        strides = int_tuple(strides, 2, "strides", what)
        dilation = int_tuple(dilation_rate, 2, "dilation_rate", what)
        mode = padding_mode(padding, what, modes)
        sizes = []
        for axis, name in enumerate(axis_names):
            window = (kernel_hw[axis] - 1) * dilation[axis] + 1
            axis_mode = "valid" if mode == "causal" and axis == 0 else mode
            sizes.append(window_axis(in_hw[axis], window, strides[axis], axis_mode, what, name))
        self.out_hw = (sizes[0][0], sizes[1][0])
        self.args = (strides[0], strides[1], dilation[0], dilation[1], sizes[0][1], sizes[1][1], groups)


def _groups(groups, what):
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{what}: groups must be an int >= 1, got {groups!r}")
    return int(groups)


def _check_kernel(x, w, groups, what, channels_axis="input"):
    """w (kh, kw, c / groups, f) against x (n, h, w, c): channels and groups agree."""
    c, f = x.shape[-1], w.shape[-1]
    if c % groups or f % groups:
        raise ValueError(f"{what}: groups={groups} must divide the {c} {channels_axis} channels and the {f} filters")
    if w.shape[-2] * groups != c:
        raise ValueError(f"{what}: x has {c} channels but the kernel of shape {w.shape} takes "
                         f"{w.shape[-2]} x {groups} group(s) = {w.shape[-2] * groups}")
    if min(w.shape) < 1:
        raise ValueError(f"{what}: the kernel has an empty dimension: shape {w.shape}")


def _prepare(x, w, strides, padding, dilation_rate, groups, what, modes=("valid", "same")):
    x = image_operand(x, 4, what)
    w = image_operand(w, 4, what, "w")
    groups = _groups(groups, what)
    _check_kernel(x, w, groups, what)
    geo = ConvGeometry(x.shape[1:3], w.shape[:2], strides, padding, dilation_rate, groups, what, modes)
    return x, w, geo


def conv2d_scratch_size(x_shape, w_shape, *, strides=1, padding="valid", dilation_rate=1, groups=1,
                        passes=("forward",), threads=None):
    """Floats of scratch conv2d (and, with passes ('backward_data', 'backward_filter'), its backward)
    needs for these shapes, on any SIMD path, with `threads` threads (default: the current setting).

    Example:
        >>> fastnn.ops.conv2d_scratch_size((8, 28, 28, 1), (3, 3, 1, 32), padding="same") > 0
        True
    """
    what = "conv2d_scratch_size"
    x_shape, w_shape = shape4(x_shape, what, "x_shape"), shape4(w_shape, what, "w_shape")
    groups = _groups(groups, what)
    geo = ConvGeometry(x_shape[1:3], w_shape[:2], strides, padding, dilation_rate, groups, what)
    y_shape = (x_shape[0], *geo.out_hw, w_shape[3])
    threads = threads or _C.get_num_threads()
    return max(_C.conv2d_scratch_floats(tuple(x_shape), tuple(w_shape), y_shape, geo.args, _PASSES[p], threads)
               for p in passes)


def conv2d(x, w, b=None, *, strides=1, padding="valid", dilation_rate=1, groups=1, activation=None, alpha=None,
           out=None, scratch=None):
    """2-D convolution of channels-last images: act(conv(x, w) + b).

    Args:
        x: (batch, height, width, channels) images.
        w: (kernel_h, kernel_w, channels / groups, filters) kernel, Keras's Conv2D layout.
        b: optional (filters,) bias.
        strides, dilation_rate: an int or a (rows, columns) pair, each >= 1.
        padding: 'valid' (windows inside the image) or 'same' (ceil(size / stride) outputs).
        groups: channel groups: group g of the input meets group g of the filters.
        activation: None or an elementwise activation, applied in the GEMM epilogue.
        alpha: leaky_relu's slope or elu's alpha (Keras's defaults when None).
        out: optional (batch, out_h, out_w, filters) float32 array to write into.
        scratch: optional float32 vector of at least conv2d_scratch_size(...) floats.

    Returns:
        The (batch, out_h, out_w, filters) float32 result. An image's output does not depend on the
        batch it is in.

    Example:
        >>> fastnn.ops.conv2d(np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 2)), padding="same")[0, 2, 2]
        array([9., 9.], dtype=float32)
    """
    what = "conv2d"
    x, w, geo = _prepare(x, w, strides, padding, dilation_rate, groups, what)
    act, alpha = _epilogue(activation, alpha, what)
    b = vector_operand(b, w.shape[3], what, "b")
    y = output(out, (x.shape[0], *geo.out_hw, w.shape[3]), what)
    return _C.conv2d_forward(x, w, b, y, scratch, geo.args, act, alpha, False, what)


def conv2d_backward(x, w, dy, *, strides=1, padding="valid", dilation_rate=1, groups=1, y=None, activation=None,
                    alpha=None, out=None, scratch=None, dz=None):
    """Gradients of y = act(conv2d(x, w) + b) in one call.

    Args:
        x, w, strides, padding, dilation_rate, groups: as the forward's.
        dy: (batch, out_h, out_w, filters) gradient with respect to y.
        y: the forward's output; needed with an activation.
        activation: None or the forward's activation, one whose backward reads only y: relu, elu,
            sigmoid or tanh.
        out: optional (dx, dw, db) arrays to write into; an entry None skips that gradient (and is
            returned as None).
        scratch: optional float32 vector of at least conv2d_scratch_size(..., passes=('backward_data',
            'backward_filter')) floats.
        dz: optional array of dy's shape for dy * act'(y) (may be dy itself, which is then overwritten).

    Returns:
        (dx, dw, db): float32 arrays shaped like x, w and (filters,). They do not depend on the thread
        count: the filter gradient sums fixed chunks of pixels in a fixed order.
    """
    what = "conv2d_backward"
    x, w, geo = _prepare(x, w, strides, padding, dilation_rate, groups, what)
    g = output_gradient(dy, (x.shape[0], *geo.out_hw, w.shape[3]), y, activation, alpha, dz, what)
    return _gradients(x, w, g, geo, out, scratch, what)


def _gradients(x, w, g, geo, out, scratch, what):
    """(dx, dw, db) of a convolution for g = dy * act'(y), into `out`'s arrays (None skips one)."""
    dx, dw, db = _gradient_outputs(out, (x.shape, w.shape, (w.shape[3],)), what)
    if dx is not None:
        _C.conv2d_backward_data(g, w, None, dx, scratch, geo.args, 0, 0.0, False, what)
    if dw is not None:
        _C.conv2d_backward_filter(x, g, dw, db, scratch, geo.args, False, what)
    elif db is not None:
        _C.bias_grad(g.reshape(-1, g.shape[-1]), db)
    return dx, dw, db


def output_gradient(dy, expected, y, activation, alpha, dz, what):
    """dy checked against the output's shape, times act'(y) (into dz when given) with an activation."""
    dy = image_operand(dy, len(expected), what, "dy")
    if dy.shape != expected:
        raise ValueError(f"{what}: dy must have shape {expected}, got {dy.shape}")
    act, alpha = _epilogue(activation, alpha, what, backward=True)
    if not act:
        return dy
    if y is None:
        raise ValueError(f"{what}: the backward of activation {activation!r} needs y")
    y = image_operand(y, dy.ndim, what, "y")
    if y.shape != dy.shape:
        raise ValueError(f"{what}: y must have dy's shape {dy.shape}, got {y.shape}")
    return _C.activation_backward(act, None, y, dy, dz, alpha)


def _gradient_outputs(out, shapes, what):
    """New arrays for the gradients, or the user's (dx, dw, db), each checked or None."""
    if out is None:
        return tuple(np.empty(shape, np.float32) for shape in shapes)
    if not isinstance(out, (tuple, list)) or len(out) != len(shapes):
        raise TypeError(f"{what}: out must be a tuple of {len(shapes)} arrays (or None entries)")
    return tuple(None if o is None else output(o, shape, what) for o, shape in zip(out, shapes))


def _prepare_1d(x, w, strides, padding, dilation_rate, groups, what):
    """1-D operands (batch, steps, channels) and (kernel, channels / groups, filters) as the 2-D ones
    of a one-row image, and the geometry."""
    x = image_operand(x, 3, what)[:, None]
    w = image_operand(w, 3, what, "w")[None]
    groups = _groups(groups, what)
    _check_kernel(x, w, groups, what)
    geo = ConvGeometry(x.shape[1:3], w.shape[:2], (1, _int(strides, what, "strides")), padding,
                       (1, _int(dilation_rate, what, "dilation_rate")), groups, what, ("valid", "same", "causal"),
                       ("rows", "steps"))
    return x, w, geo


def conv1d(x, w, b=None, *, strides=1, padding="valid", dilation_rate=1, groups=1, activation=None, alpha=None,
           out=None, scratch=None):
    """1-D convolution of channels-last sequences: act(conv(x, w) + b).

    Args:
        x: (batch, steps, channels).
        w: (kernel, channels / groups, filters), Keras's Conv1D layout.
        padding: 'valid', 'same' or 'causal' (pads kernel - 1 dilated steps before: no output sees the future).
        the others: as conv2d's, with ints.

    Returns:
        The (batch, out_steps, filters) float32 result.
    """
    what = "conv1d"
    x2, w2, geo = _prepare_1d(x, w, strides, padding, dilation_rate, groups, what)
    act, alpha = _epilogue(activation, alpha, what)
    b = vector_operand(b, w2.shape[3], what, "b")
    y = output(out, (x2.shape[0], geo.out_hw[1], w2.shape[3]), what)
    _C.conv2d_forward(x2, w2, b, y[:, None], scratch, geo.args, act, alpha, False, what)
    return y


def conv1d_backward(x, w, dy, *, strides=1, padding="valid", dilation_rate=1, groups=1, y=None, activation=None,
                    alpha=None, out=None, scratch=None, dz=None):
    """Gradients of y = act(conv1d(x, w) + b): (dx, dw, db), as conv2d_backward's."""
    what = "conv1d_backward"
    x2, w2, geo = _prepare_1d(x, w, strides, padding, dilation_rate, groups, what)
    g = output_gradient(dy, (x2.shape[0], geo.out_hw[1], w2.shape[3]), y, activation, alpha, dz, what)
    dx, dw, db = _gradient_outputs(out, (x2.shape[:1] + x2.shape[2:], w2.shape[1:], (w2.shape[3],)), what)
    _gradients(x2, w2, g[:, None], geo, (None if dx is None else dx[:, None], None if dw is None else dw[None], db),
               scratch, what)
    return dx, dw, db


def _int(value, what, name):
    return int_tuple(value, 1, name, what)[0]

