"""Batch normalization over the last (channel) axis, on fastnn's two-pass kernels: training forward
and backward, inference, and folding into the layer before it. Statistics are summed in fixed
chunks added in a fixed order, so they do not depend on the thread count. Layer normalization
normalizes each row over its last axis on its own statistics."""
import math

import numpy as np

from .. import _C
from .._C import is_f32
from ._convert import as_float32_operand
from ._window import output, vector_operand

__all__ = ["batch_norm_forward", "batch_norm_backward", "batch_norm_inference", "batch_norm_fold",
           "batch_norm_scratch_size", "layer_norm", "layer_norm_backward"]


def _rows(x, what, name="x", min_rank=2):
    """x as float32 (and its (rows, channels) view): at least min_rank-D, channels last, none empty."""
    if not is_f32(x):
        x = as_float32_operand(x, f"{what}: {name}")
    if x.ndim < min_rank or x.size == 0:
        raise ValueError(f"{what}: {name} must be at least {min_rank}-D (..., channels) and not empty, got {x.shape}")
    return x, x.reshape(-1, x.shape[-1])


def _state(v, c, what, name):
    """A moving statistic the kernel updates in place: a float32 (c,) ndarray, or None."""
    if v is not None and not (is_f32(v) and v.shape == (c,)):
        raise TypeError(f"{what}: {name} must be a C-contiguous float32 ndarray of shape ({c},) (it is updated "
                        f"in place), got {type(v).__name__} {getattr(v, 'shape', '')}")
    return v


def _epsilon(epsilon, what):
    """epsilon as a float: a finite number >= 0, since 1 / sqrt(var + epsilon) is NaN for finite x
    otherwise (0 is allowed for exact statistics of data that varies)."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what}: epsilon must be a number, got {epsilon!r}")
    epsilon = float(epsilon)
    if not (math.isfinite(epsilon) and epsilon >= 0.0):
        raise ValueError(f"{what}: epsilon must be finite and >= 0, got {epsilon!r}")
    return epsilon


def batch_norm_scratch_size(channels):
    """Floats of scratch each batch normalization op needs for this many channels."""
    return _C.batch_norm_scratch_floats(channels)


def batch_norm_forward(x, gamma=None, beta=None, *, epsilon=1e-3, moving_mean=None, moving_variance=None,
                       momentum=0.99, out=None, scratch=None):
    """Training-mode batch normalization over every axis but the last.

    Args:
        x: (batch, ..., channels).
        gamma, beta: optional (channels,) scale and offset (None: 1 and 0, Keras's scale/center off).
        epsilon: added to the variance.
        moving_mean, moving_variance: optional float32 (channels,) arrays updated in place to
            momentum * moving + (1 - momentum) * batch statistic (the biased variance, as Keras).
        out: optional float32 array of x's shape.
        scratch: optional float32 vector of batch_norm_scratch_size(channels) floats.

    Returns:
        (y, mean, invstd): y = gamma * (x - mean) * invstd + beta, and the batch mean and
        1 / sqrt(var + epsilon) per channel, which the backward takes.
    """
    what = "batch_norm_forward"
    x, rows = _rows(x, what)
    c = rows.shape[1]
    gamma, beta = vector_operand(gamma, c, what, "gamma"), vector_operand(beta, c, what, "beta")
    y = output(out, x.shape, what)
    mean, invstd = np.empty(c, np.float32), np.empty(c, np.float32)
    _C.batch_norm_forward_train(rows, gamma, beta, _epsilon(epsilon, what), y.reshape(rows.shape), mean, invstd,
                                _state(moving_mean, c, what, "moving_mean"),
                                _state(moving_variance, c, what, "moving_variance"), float(momentum), scratch)
    return y, mean, invstd


def batch_norm_backward(x, dy, gamma, mean, invstd, *, out=None, scratch=None):
    """Gradients of batch_norm_forward: (dx, dgamma, dbeta).

    Args:
        x, gamma: the forward's input and scale (None for no scale).
        dy: the gradient with respect to y, shaped like x.
        mean, invstd: what the forward returned.
        out: optional (dx, dgamma, dbeta) arrays; an entry None skips that gradient.
        scratch: as the forward's.
    """
    what = "batch_norm_backward"
    x, rows = _rows(x, what)
    dy, dy_rows = _rows(dy, what, "dy")
    if dy.shape != x.shape:
        raise ValueError(f"{what}: dy must have x's shape {x.shape}, got {dy.shape}")
    c = rows.shape[1]
    gamma = vector_operand(gamma, c, what, "gamma")
    mean, invstd = vector_operand(mean, c, what, "mean"), vector_operand(invstd, c, what, "invstd")
    if out is None:
        dx, dgamma, dbeta = np.empty(x.shape, np.float32), np.empty(c, np.float32), np.empty(c, np.float32)
    else:
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise TypeError(f"{what}: out must be a tuple of 3 arrays (or None entries)")
        dx, dgamma, dbeta = (None if o is None else output(o, shape, what)
                             for o, shape in zip(out, (x.shape, (c,), (c,))))
    _C.batch_norm_backward(rows, dy_rows, gamma, mean, invstd, None if dx is None else dx.reshape(rows.shape),
                           dgamma, dbeta, scratch)
    return dx, dgamma, dbeta


def batch_norm_inference(x, gamma, beta, moving_mean, moving_variance, *, epsilon=1e-3, out=None, scratch=None):
    """Inference-mode batch normalization: gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
    over the last axis (gamma, beta may be None)."""
    what = "batch_norm_inference"
    x, rows = _rows(x, what)
    c = rows.shape[1]
    args = [vector_operand(v, c, what, n) for v, n in ((gamma, "gamma"), (beta, "beta"),
                                                        (moving_mean, "moving_mean"),
                                                        (moving_variance, "moving_variance"))]
    if args[2] is None or args[3] is None:
        raise ValueError(f"{what}: moving_mean and moving_variance are required")
    y = output(out, x.shape, what)
    _C.batch_norm_forward_infer(rows, *args, _epsilon(epsilon, what), y.reshape(rows.shape), scratch)
    return y


# Where a kernel keeps its output channels, as (outer, channels, inner) of its flat array.
_FOLD_LAYOUTS = {
    "dense": lambda s: (int(np.prod(s[:-1])), s[-1], 1),           # (in, units)
    "conv": lambda s: (int(np.prod(s[:-1])), s[-1], 1),            # (kh, kw, in / groups, filters)
    "depthwise": lambda s: (s[0] * s[1], s[2] * s[3], 1),          # (kh, kw, channels, multiplier)
    "conv_transpose": lambda s: (s[0] * s[1], s[2], s[3]),         # (kh, kw, filters, in)
}


def batch_norm_fold(kernel, bias, gamma, beta, moving_mean, moving_variance, *, epsilon=1e-3, kind="conv"):
    """Fold an inference batch normalization into the layer before it.

    Args:
        kernel: that layer's kernel, in Keras's layout for `kind`: 'dense', 'conv' (Conv1D/2D),
            'depthwise' (DepthwiseConv2D) or 'conv_transpose' (Conv2DTranspose).
        bias: its bias, or None (taken as zeros).
        gamma, beta, moving_mean, moving_variance, epsilon: the normalization's.

    Returns:
        (kernel, bias): new float32 arrays such that the layer with them computes what the layer and
        the normalization computed together (before any activation between them).
    """
    what = "batch_norm_fold"
    if kind not in _FOLD_LAYOUTS:
        raise ValueError(f"{what}: kind must be one of {', '.join(_FOLD_LAYOUTS)}, got {kind!r}")
    kernel = np.array(as_float32_operand(kernel, f"{what}: kernel"), np.float32, copy=True)
    if kind in ("depthwise", "conv_transpose") and kernel.ndim != 4 or kernel.ndim < 2:
        raise ValueError(f"{what}: a {kind} kernel of shape {kernel.shape} does not have Keras's layout")
    outer, c, inner = _FOLD_LAYOUTS[kind](kernel.shape)
    bias = np.zeros(c, np.float32) if bias is None else np.array(vector_operand(bias, c, what, "bias"), copy=True)
    stats = [vector_operand(v, c, what, n) for v, n in ((gamma, "gamma"), (beta, "beta"),
                                                         (moving_mean, "moving_mean"),
                                                         (moving_variance, "moving_variance"))]
    if stats[2] is None or stats[3] is None:
        raise ValueError(f"{what}: moving_mean and moving_variance are required")
    _C.batch_norm_fold(kernel.reshape(outer, c, inner), bias, *stats, _epsilon(epsilon, what))
    return kernel, bias


def layer_norm(x, gamma=None, beta=None, *, epsilon=1e-3, out=None):
    """Layer normalization over the last axis: each row on its own mean and biased variance.

    Args:
        x: (..., features), not empty.
        gamma, beta: optional (features,) scale and offset (None: 1 and 0).
        epsilon: added to the variance (Keras's default 1e-3; torch's layer_norm uses 1e-5).
        out: optional float32 array of x's shape.

    Returns:
        (y, mean, invstd): y = gamma * (x - mean) * invstd + beta, and each row's mean and
        1 / sqrt(var + epsilon), shaped x.shape[:-1], which the backward takes.

    Example:
        >>> y, _, _ = layer_norm(np.array([[1.0, 3.0]], np.float32), epsilon=1e-6)
        >>> np.round(y, 3)
        array([[-1.,  1.]], dtype=float32)
    """
    what = "layer_norm"
    x, rows = _rows(x, what, min_rank=1)
    c = rows.shape[1]
    gamma, beta = vector_operand(gamma, c, what, "gamma"), vector_operand(beta, c, what, "beta")
    y = output(out, x.shape, what)
    mean, invstd = np.empty(rows.shape[0], np.float32), np.empty(rows.shape[0], np.float32)
    _C.layer_norm_forward(rows, gamma, beta, _epsilon(epsilon, what), y.reshape(rows.shape), mean, invstd)
    return y, mean.reshape(x.shape[:-1]), invstd.reshape(x.shape[:-1])


def layer_norm_backward(x, dy, gamma, mean, invstd):
    """Gradients of layer_norm: (dx, dgamma, dbeta), from its input, scale (or None), output gradient
    dy (x's shape) and the mean and invstd it returned."""
    what = "layer_norm_backward"
    x, rows = _rows(x, what, min_rank=1)
    dy, dy_rows = _rows(dy, what, "dy", min_rank=1)
    if dy.shape != x.shape:
        raise ValueError(f"{what}: dy must have x's shape {x.shape}, got {dy.shape}")
    n, c = rows.shape
    gamma = vector_operand(gamma, c, what, "gamma")
    mean, invstd = (vector_operand(np.reshape(v, -1), n, what, name) for v, name in ((mean, "mean"), (invstd, "invstd")))
    dx, dgamma, dbeta = np.empty(x.shape, np.float32), np.empty(c, np.float32), np.empty(c, np.float32)
    _C.layer_norm_backward(rows, dy_rows, gamma, mean, invstd, dx.reshape(rows.shape), dgamma, dbeta)
    return dx, dgamma, dbeta


