"""Depthwise and separable convolutions. A depthwise convolution is a convolution with one group per
input channel, whose Keras kernel (kh, kw, channels, depth_multiplier) is that convolution's kernel
(kh, kw, 1, channels * depth_multiplier); the kernels run it on their direct depthwise code. A
separable convolution is a depthwise one followed by a 1x1 convolution.
"""
import numpy as np

from ._window import image_operand
from .conv import conv2d, conv2d_backward

__all__ = ["depthwise_conv2d", "depthwise_conv2d_backward", "separable_conv2d", "separable_conv2d_backward"]


def _grouped_kernel(x, w, what):
    """x (batch, h, w, c) and the depthwise kernel (kh, kw, c, multiplier) as conv2d's grouped kernel."""
    x = image_operand(x, 4, what)
    w = image_operand(w, 4, what, "w")
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"{what}: x has {x.shape[3]} channels but the depthwise kernel of shape {w.shape} "
                         f"takes {w.shape[2]}")
    return x, w.reshape(w.shape[0], w.shape[1], 1, w.shape[2] * w.shape[3])


def depthwise_conv2d(x, w, b=None, *, strides=1, padding="valid", dilation_rate=1, activation=None, alpha=None,
                     out=None, scratch=None):
    """Depthwise 2-D convolution: each input channel convolved with its own depth_multiplier filters.

    Args:
        x: (batch, height, width, channels).
        w: (kernel_h, kernel_w, channels, depth_multiplier), Keras's DepthwiseConv2D layout.
        b: optional (channels * depth_multiplier,) bias.
        the others: as conv2d's.

    Returns:
        (batch, out_h, out_w, channels * depth_multiplier); output channel c * depth_multiplier + q is
        filter q of input channel c.
    """
    x, w2 = _grouped_kernel(x, w, "depthwise_conv2d")
    return conv2d(x, w2, b, strides=strides, padding=padding, dilation_rate=dilation_rate, groups=x.shape[3],
                  activation=activation, alpha=alpha, out=out, scratch=scratch)


def depthwise_conv2d_backward(x, w, dy, *, strides=1, padding="valid", dilation_rate=1, y=None, activation=None,
                              alpha=None, out=None, scratch=None, dz=None):
    """Gradients of y = act(depthwise_conv2d(x, w) + b): (dx, dw, db) as conv2d_backward's, dw in w's layout."""
    what = "depthwise_conv2d_backward"
    x, w2 = _grouped_kernel(x, w, what)
    if out is not None:
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise TypeError(f"{what}: out must be a tuple of 3 arrays (or None entries)")
        dw = out[1]
        if isinstance(dw, np.ndarray) and dw.shape == tuple(np.shape(w)) and dw.flags.c_contiguous:
            dw = dw.reshape(w2.shape)
        out = (out[0], dw, out[2])
    dx, dw, db = conv2d_backward(x, w2, dy, strides=strides, padding=padding, dilation_rate=dilation_rate,
                                 groups=x.shape[3], y=y, activation=activation, alpha=alpha, out=out, scratch=scratch,
                                 dz=dz)
    return dx, None if dw is None else dw.reshape(np.shape(w)), db


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, b=None, *, strides=1, padding="valid", dilation_rate=1,
                     activation=None, alpha=None, out=None):
    """Separable 2-D convolution: depthwise_conv2d(x, depthwise_kernel), then a 1x1 conv2d with
    pointwise_kernel (1, 1, channels * depth_multiplier, filters), the bias and the activation.

    Returns:
        (batch, out_h, out_w, filters).
    """
    mid = depthwise_conv2d(x, depthwise_kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)
    return conv2d(mid, pointwise_kernel, b, activation=activation, alpha=alpha, out=out)


def separable_conv2d_backward(x, depthwise_kernel, pointwise_kernel, dy, *, strides=1, padding="valid",
                              dilation_rate=1, mid=None, y=None, activation=None, alpha=None):
    """Gradients of y = separable_conv2d(x, ...): (dx, d_depthwise_kernel, d_pointwise_kernel, db).

    mid is the depthwise output of the forward (recomputed when None).
    """
    if mid is None:
        mid = depthwise_conv2d(x, depthwise_kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)
    dmid, dpw, db = conv2d_backward(mid, pointwise_kernel, dy, y=y, activation=activation, alpha=alpha)
    dx, ddw, _ = depthwise_conv2d_backward(x, depthwise_kernel, dmid, strides=strides, padding=padding,
                                           dilation_rate=dilation_rate)
    return dx, ddw, dpw, db
