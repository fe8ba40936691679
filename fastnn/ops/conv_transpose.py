"""The transposed convolution (Keras's Conv2DTranspose): the data gradient of the convolution that
maps its output back onto its input, on the same implicit-GEMM kernels. Its backward is that
convolution's forward (for dx) and filter gradient (for dw)."""
from .. import _C
from ._window import image_operand, int_tuple, output, padding_mode, shape4, vector_operand
from .conv import _gradient_outputs, output_gradient
from .linalg import _epilogue

__all__ = ["conv2d_transpose", "conv2d_transpose_backward", "conv2d_transpose_scratch_size"]


def _axis(size, kernel, stride, dilation, mode, output_padding):
    """(output size, padding before) of one axis, as Keras's deconv_output_length and TensorFlow's
    conv2d_transpose compute them: the output size, then the 'same' or 'valid' padding of the
    convolution from that size back to `size`."""
    window = (kernel - 1) * dilation + 1
    if output_padding is None:
        out = size * stride + (max(window - stride, 0) if mode == "valid" else 0)
    else:
        out = (size - 1) * stride + window - 2 * (window // 2 if mode == "same" else 0) + output_padding
    return out, (max((size - 1) * stride + window - out, 0) // 2 if mode == "same" else 0)


class TransposeGeometry:
    """out_hw and the kernels' (stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups) of a
    transposed convolution of an (h, w) input."""

    def __init__(self, in_hw, kernel_hw, strides, padding, output_padding, dilation_rate, what):
        strides = int_tuple(strides, 2, "strides", what)
        dilation = int_tuple(dilation_rate, 2, "dilation_rate", what)
        mode = padding_mode(padding, what)
        extra = (None, None) if output_padding is None else int_tuple(output_padding, 2, "output_padding", what, 0)
        if extra[0] is not None and (extra[0] >= strides[0] or extra[1] >= strides[1]):
            raise ValueError(f"{what}: output_padding {output_padding!r} must be smaller than strides {strides}")
        axes = [_axis(in_hw[i], kernel_hw[i], strides[i], dilation[i], mode, extra[i]) for i in range(2)]
        if min(axes[0][0], axes[1][0]) < 1:
            raise ValueError(f"{what}: an input of {in_hw} gives an empty output")
        self.out_hw = (axes[0][0], axes[1][0])
        self.args = (strides[0], strides[1], dilation[0], dilation[1], axes[0][1], axes[1][1], 1)


def _prepare(x, w, strides, padding, output_padding, dilation_rate, what):
    x = image_operand(x, 4, what)
    w = image_operand(w, 4, what, "w")
    if w.shape[3] != x.shape[3]:
        raise ValueError(f"{what}: x has {x.shape[3]} channels but the kernel of shape {w.shape} takes {w.shape[3]} "
                         f"(Keras's Conv2DTranspose layout: (kernel_h, kernel_w, filters, channels))")
    if min(w.shape) < 1:
        raise ValueError(f"{what}: the kernel has an empty dimension: shape {w.shape}")
    return x, w, TransposeGeometry(x.shape[1:3], w.shape[:2], strides, padding, output_padding, dilation_rate, what)


def conv2d_transpose_scratch_size(x_shape, w_shape, *, strides=1, padding="valid", output_padding=None,
                                  dilation_rate=1, backward=False, threads=None):
    """Floats of scratch conv2d_transpose (or, with backward=True, its backward) needs."""
    what = "conv2d_transpose_scratch_size"
    x_shape, w_shape = shape4(x_shape, what, "x_shape"), shape4(w_shape, what, "w_shape")
    geo = TransposeGeometry(x_shape[1:3], w_shape[:2], strides, padding, output_padding, dilation_rate, what)
    y_shape = (x_shape[0], *geo.out_hw, w_shape[2])
    threads = threads or _C.get_num_threads()
    passes = (0, 2) if backward else (1,)
    return max(_C.conv2d_scratch_floats(y_shape, tuple(w_shape), tuple(x_shape), geo.args, p, threads) for p in passes)


def conv2d_transpose(x, w, b=None, *, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                     activation=None, alpha=None, out=None, scratch=None):
    """Transposed 2-D convolution of channels-last images: act(conv_transpose(x, w) + b).

    Args:
        x: (batch, height, width, channels).
        w: (kernel_h, kernel_w, filters, channels), Keras's Conv2DTranspose layout.
        b: optional (filters,) bias.
        strides, dilation_rate: an int or a pair, each >= 1.
        padding: 'valid' or 'same', as Keras.
        output_padding: None, or an int or pair, each smaller than its stride: extra output rows and
            columns at the bottom and right.
        activation, alpha, out, scratch: as conv2d's.

    Returns:
        (batch, out_h, out_w, filters); with output_padding None, out = in * stride for 'same' and
        in * stride + max(kernel - stride, 0) for 'valid' (kernel dilated).
    """
    what = "conv2d_transpose"
    x, w, geo = _prepare(x, w, strides, padding, output_padding, dilation_rate, what)
    act, alpha = _epilogue(activation, alpha, what)
    b = vector_operand(b, w.shape[2], what, "b")
    y = output(out, (x.shape[0], *geo.out_hw, w.shape[2]), what)
    return _C.conv2d_backward_data(x, w, b, y, scratch, geo.args, act, alpha, False, what)


def conv2d_transpose_backward(x, w, dy, *, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                              y=None, activation=None, alpha=None, out=None, scratch=None, dz=None):
    """Gradients of y = act(conv2d_transpose(x, w) + b): (dx, dw, db), shaped like x, w and (filters,).
    The arguments are as conv2d_backward's."""
    what = "conv2d_transpose_backward"
    x, w, geo = _prepare(x, w, strides, padding, output_padding, dilation_rate, what)
    g = output_gradient(dy, (x.shape[0], *geo.out_hw, w.shape[2]), y, activation, alpha, dz, what)
    dx, dw, db = _gradient_outputs(out, (x.shape, w.shape, (w.shape[2],)), what)
    if dx is not None:
        _C.conv2d_forward(g, w, None, dx, scratch, geo.args, 0, 0.0, False, what)
    if dw is not None:
        _C.conv2d_backward_filter(g, x, dw, None, scratch, geo.args, False, what)
    if db is not None:
        _C.bias_grad(g.reshape(-1, g.shape[-1]), db)
    return dx, dw, db
