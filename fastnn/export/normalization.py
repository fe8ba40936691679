"""Converter of LayerNormalization: ONNX's LayerNormalization operator (opset 17, below every opset
the exporter writes) over the layer's trailing axes."""
import numpy as np

from ..layers import LayerNormalization
from .registry import converts


@converts(LayerNormalization)
def layer_normalization(call):
    """ONNX requires a scale: ones stand in for a layer without gamma; beta is optional."""
    layer, g = call.layer, call.g
    rank = len(call.shape)
    k = layer.normalized_rank(rank)
    shape = tuple(call.shape[rank - k:])
    scale = layer.gamma if layer.scale else np.ones(shape, np.float32)
    inputs = [call.x, g.const(scale, call.hint("gamma"))]
    if layer.center:
        inputs.append(g.const(layer.beta, call.hint("beta")))
    return g.op("LayerNormalization", inputs, call.hint(), axis=-k, epsilon=layer.epsilon)
