"""Activation functions forward and backward, and the gradient of a bias, on fastnn's C kernels."""
import math
import numbers

import numpy as np

from .. import _C
from .._C import is_f32
from ._convert import as_float32_operand, check_out

__all__ = ["ACTIVATIONS", "activation_forward", "activation_backward", "activation_backward_input", "relu",
           "relu_backward", "activation_parameter", "bias_grad"]

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus", "softmax")
_ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
# Keras's defaults for the activations that take a parameter.
_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
_BACKWARD_INPUT = {name: _C.activation_backward_input(code) for name, code in _ACTIVATION_CODES.items()}
_F32 = np.dtype(np.float32)
# The fast paths' view of the tables above: name -> (code, default alpha[, which input backward reads]).
_FORWARD_FAST = {name: (code, _DEFAULT_ALPHA.get(name, 0.0)) for name, code in _ACTIVATION_CODES.items()}
_BACKWARD_FAST = {name: (code, alpha, _BACKWARD_INPUT[name]) for name, (code, alpha) in _FORWARD_FAST.items()}


def activation_parameter(name, alpha, what):
    """The float parameter the kernels take for activation `name`: alpha checked, or Keras's default
    (leaky_relu 0.2, elu 1.0; 0.0 for the activations without one)."""
    if alpha is None:
        return _DEFAULT_ALPHA.get(name, 0.0)
    if name not in _DEFAULT_ALPHA:
        raise ValueError(f"{what}: alpha only applies to leaky_relu and elu, not {name}")
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool):
        raise TypeError(f"{what}: alpha must be a number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha):  # a NaN slope would turn positive x into NaN too
        raise ValueError(f"{what}: alpha must be finite, got {alpha}")
    if name == "elu" and not alpha >= 0.0:
        raise ValueError(f"{what}: elu needs alpha >= 0 (its backward reads y), got {alpha}")
    return alpha


def _activation(name, alpha, what):
    code = _ACTIVATION_CODES.get(name) if type(name) is str else None
    if code is None:
        raise ValueError(f"{what}: unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return code, activation_parameter(name, alpha, what)


def activation_backward_input(name):
    """Which array activation_backward(name, ...) reads besides dy: 'x', 'y' or None (linear).

    relu, elu, sigmoid, tanh and softmax read their output y; leaky_relu, gelu, silu and softplus
    read their input x.
    """
    if name not in _BACKWARD_INPUT:
        raise ValueError(f"activation_backward_input: unknown activation {name!r}; "
                         f"expected one of {', '.join(ACTIVATIONS)}")
    return _BACKWARD_INPUT[name]


def activation_forward(name, x, out=None, alpha=None):
    """y = activation(x) in float32.

    Args:
        name: one of ACTIVATIONS. softmax normalises over the last axis.
        x: array-like of any shape (at least 1-D for softmax).
        out: optional C-contiguous float32 array of x's shape; may be x itself (in place).
        alpha: leaky_relu's negative slope (default 0.2) or elu's alpha (default 1.0, must be >= 0).

    Returns:
        y, float32, shaped like x.

    Example:
        >>> fastnn.ops.activation_forward("relu", np.array([-1.0, 2.0]))
        array([0., 2.], dtype=float32)
    """
    if alpha is None and type(name) is str and is_f32(x) and (out is None or is_f32(out)):
        fast = _FORWARD_FAST.get(name)
        if fast is not None:
            return _C.activation_forward(fast[0], x, out, fast[1])
    code, alpha = _activation(name, alpha, "activation_forward")
    x = as_float32_operand(x, "activation_forward: x")
    if out is None:
        out = np.empty(x.shape, _F32)
    else:
        check_out(out, x.shape, "activation_forward")
    return _C.activation_forward(code, x, out, alpha)


_OPERAND_ROLE = {"x": "the activation's input", "y": "the activation's output"}


def _backward_operand(name, which, value, dy):
    """x or y for a backward that reads it: present, float32 and shaped like dy."""
    if value is None:
        raise ValueError(f"activation_backward: {name} needs {which} ({_OPERAND_ROLE[which]}), got None")
    value = as_float32_operand(value, f"activation_backward: {which}")
    if value.shape != dy.shape:
        raise ValueError(f"activation_backward: {which} has shape {value.shape} but dy has shape {dy.shape}")
    return value


def activation_backward(name, x, y, dy, out=None, alpha=None):
    """dx = dy * activation'(x) in float32.

    Args:
        name: one of ACTIVATIONS.
        x: the activation's input; read by leaky_relu, gelu, silu, softplus (None is fine otherwise).
        y: the activation's output; read by relu, elu, sigmoid, tanh, softmax (None is fine otherwise).
        dy: the gradient with respect to y.
        out: optional C-contiguous float32 array of dy's shape; may be dy itself (in place).
        alpha: as in activation_forward.

    Returns:
        dx, float32, shaped like dy.

    The derivative of relu at 0 is taken as 0 and of elu at 0 as alpha (the left-hand limits).
    """
    if alpha is None and type(name) is str and is_f32(dy) and (out is None or is_f32(out)):
        fast = _BACKWARD_FAST.get(name)
        if fast is not None:
            code, default_alpha, needs = fast
            x = x if needs == "x" else None  # the binding must not see what the kernel does not read
            y = y if needs == "y" else None
            if needs is None or is_f32(x if needs == "x" else y):
                return _C.activation_backward(code, x, y, dy, out, default_alpha)
    code, alpha = _activation(name, alpha, "activation_backward")
    dy = as_float32_operand(dy, "activation_backward: dy")
    needs = _BACKWARD_INPUT[name]
    x = _backward_operand(name, "x", x, dy) if needs == "x" else None
    y = _backward_operand(name, "y", y, dy) if needs == "y" else None
    if out is None:
        out = np.empty(dy.shape, _F32)
    else:
        check_out(out, dy.shape, "activation_backward")
    return _C.activation_backward(code, x, y, dy, out, alpha)


def bias_grad(dy, out=None):
    """Column sums of dy: the gradient of a bias added along dy's last axis.

    Args:
        dy: (B, N) array-like (more leading axes are summed too).
        out: optional C-contiguous float32 array of shape (N,).

    Returns:
        (N,) float32. Each column is summed in float64 in row order, so the result does not depend on
        the thread count.
    """
    if is_f32(dy) and (out is None or is_f32(out)):
        return _C.bias_grad(dy, out)
    dy = as_float32_operand(dy, "bias_grad: dy")
    if dy.ndim < 2:
        raise ValueError(f"bias_grad: dy must be at least 2-D (batch, units), got shape {dy.shape}")
    if out is None:
        out = np.empty(dy.shape[-1:], _F32)
    else:
        check_out(out, dy.shape[-1:], "bias_grad")
    return _C.bias_grad(dy, out)


def relu_arguments(negative_slope, max_value, threshold, what):
    """Keras's ReLU arguments as the kernel's floats (max_value None: +inf); ValueError for a negative
    one, TypeError for one that is not a number, as Keras's ReLU layer."""
    values = []
    for name, value in (("negative_slope", negative_slope), ("max_value", max_value), ("threshold", threshold)):
        if name == "max_value" and value is None:
            values.append(float("inf"))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{what}: {name} must be a number, got {value!r}")
        if not value >= 0:
            raise ValueError(f"{what}: {name} must be >= 0, got {value!r}")
        values.append(float(value))
    return values


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0, out=None):
    """Keras's ReLU layer: min(x, max_value) where x > threshold, else negative_slope * (x - threshold).

    Args:
        x: array-like of any shape.
        negative_slope, max_value, threshold: Keras's arguments (max_value None: no cap), each >= 0.
        out: optional C-contiguous float32 array of x's shape; may be x itself.

    Example:
        >>> fastnn.ops.relu(np.array([-1.0, 0.5, 8.0]), negative_slope=0.1, max_value=6.0)
        array([-0.1,  0.5,  6. ], dtype=float32)
    """
    args = relu_arguments(negative_slope, max_value, threshold, "relu")
    x = x if is_f32(x) else as_float32_operand(x, "relu: x")
    y = np.empty(x.shape, _F32) if out is None else check_out(out, x.shape, "relu")
    return _C.relu_forward(x, y, *args)


def relu_backward(x, dy, negative_slope=0.0, max_value=None, threshold=0.0, out=None):
    """dx of relu from its input x and the output gradient dy: dy between threshold and max_value,
    negative_slope * dy at or below threshold, 0 at or above max_value."""
    args = relu_arguments(negative_slope, max_value, threshold, "relu_backward")
    x = x if is_f32(x) else as_float32_operand(x, "relu_backward: x")
    dy = dy if is_f32(dy) else as_float32_operand(dy, "relu_backward: dy")
    dx = np.empty(dy.shape, _F32) if out is None else check_out(out, dy.shape, "relu_backward")
    return _C.relu_backward(x, dy, dx, *args)
