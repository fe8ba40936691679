"""Converters of the activation layers with arguments that the Activation converter does not cover
(LeakyReLU and ELU are Activations and use it): ReLU, PReLU, Softmax over any axis."""
from ..layers import PReLU, ReLU, Softmax
from .registry import converts


@converts(ReLU)
def relu(call):
    """Relu when the arguments are the defaults; otherwise Where(x > threshold, Min(x, max_value),
    negative_slope * (x - threshold)) (a NaN input gives 0 there when negative_slope is 0, NaN in fastnn)."""
    layer, g, x = call.layer, call.g, call.x
    if layer.max_value is None and layer.negative_slope == 0.0 and layer.threshold == 0.0:
        return g.op("Relu", [x], call.hint())
    above = x if layer.max_value is None else g.op("Min", [x, g.const(layer.max_value)], call.hint("capped"))
    if layer.negative_slope == 0.0:
        below = g.const(0.0)
    else:
        below = g.op("Mul", [g.op("Sub", [x, g.const(layer.threshold)]), g.const(layer.negative_slope)],
                     call.hint("below"))
    return g.op("Where", [g.op("Greater", [x, g.const(layer.threshold)]), above, below], call.hint())


@converts(PReLU)
def prelu(call):
    """ONNX's PRelu broadcasts the slope as Keras's alpha is shaped (the input without its batch axis)."""
    return call.g.op("PRelu", [call.x, call.g.const(call.layer.alpha, call.hint("alpha"))], call.hint())


@converts(Softmax)
def softmax(call):
    return call.g.op("Softmax", [call.x], call.hint(), axis=call.layer.axis)
