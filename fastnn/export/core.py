"""Converters of the core layers: Dense, Activation, Dropout (and the Gaussian noise layers), Flatten,
Reshape, Masking, and the activation functions every layer with an `activation` argument shares."""
import math

import numpy as np

from ..layers import Activation, Dense, Dropout, Flatten, GaussianDropout, GaussianNoise, Masking, Reshape
from .builder import ONNX_TYPES
from .registry import converts

__all__ = ["apply_activation"]

_SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus"}


def apply_activation(g, x, activation, hint):
    """activation(x) as ONNX nodes (a fastnn.activations.Activation; linear adds none)."""
    name = activation.name
    if name == "linear":
        return x
    if name in _SIMPLE:
        return g.op(_SIMPLE[name], [x], hint)
    if name == "softmax":
        return g.op("Softmax", [x], hint, axis=-1)
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], hint, alpha=activation.alpha)
    if name == "elu":
        return g.op("Elu", [x], hint, alpha=activation.alpha)
    if name == "silu":
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{hint}_sigmoid")], hint)
    if name == "gelu":
        if g.opset >= 20:
            return g.op("Gelu", [x], hint)
        # x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
        erf = g.op("Erf", [g.op("Mul", [x, g.const(1 / math.sqrt(2))])])
        half_x = g.op("Mul", [x, g.const(0.5)])
        return g.op("Mul", [half_x, g.op("Add", [erf, g.const(1.0)])], hint)
    raise ValueError(f"apply_activation: no ONNX form for activation {name!r}")


@converts(Dense)
def dense(call):
    """MatMul + Add (Gemm takes rank-2 inputs only, Dense any rank), then the activation."""
    layer, g = call.layer, call.g
    y = g.op("MatMul", [call.x, g.const(layer.kernel, call.hint("kernel"))], call.hint("matmul"))
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.bias, call.hint("bias"))], call.hint("bias_add"))
    return apply_activation(g, y, layer.activation, call.hint())


@converts(Activation)
def activation(call):
    return apply_activation(call.g, call.x, call.layer.activation, call.hint())


@converts(Dropout, GaussianNoise, GaussianDropout)
def dropout(call):
    """The identity at inference."""
    call.inference_only()
    return call.x


@converts(Flatten)
def flatten(call):
    return call.g.op("Flatten", [call.x], call.hint(), axis=1)


@converts(Reshape)
def reshape(call):
    """Reshape to (batch,) + target_shape: 0 keeps the batch size, -1 is inferred as in Keras."""
    return call.g.op("Reshape", [call.x, call.g.ints((0,) + call.layer.target_shape)], call.hint())


@converts(Masking)
def masking(call):
    """A step counts when any feature differs from mask_value (NaN differs); the others become 0."""
    g = call.g
    differs = g.op("Not", [g.op("Equal", [call.x, g.const(call.layer.mask_value)])])
    keep = g.reduce("ReduceMax", g.cast(differs, "float32"), [-1], True, call.hint("keep"))
    call.output_mask = g.cast(g.squeeze(keep, [-1]), "bool", call.hint("mask"))
    return g.op("Mul", [call.x, keep], call.hint())


def float_input(call):
    """The input as float32 (integer inputs are converted as fastnn's float layers convert them)."""
    return call.x if call.dtypes[0] == "float32" else call.g.op("Cast", [call.x], to=ONNX_TYPES["float32"])


def per_axis_constant(values, rank, axes):
    """values (shaped as the sizes of `axes`) reshaped to broadcast over a tensor of rank `rank`."""
    shape = [1] * rank
    for axis, size in zip(axes, np.shape(values)):
        shape[axis] = size
    return np.asarray(values, np.float32).reshape(shape)
