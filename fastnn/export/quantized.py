"""Converters of the int8 layers (fastnn.optimize.quantize_dynamic's).

QuantizedDense becomes the graph of fastnn's own arithmetic, so ONNX Runtime reproduces fastnn's
outputs to float rounding (the same 1e-5 verification as every export) rather than to int8 error:
each row is quantized over its own range with float ops that are fastnn's, step for step
(ReduceMin/ReduceMax with 0, scale = (hi - lo) / levels, zero point = min(levels, round(-lo / scale)),
q = clip(round(x / scale) + zero point)), MatMulInteger multiplies the uint8 rows by the int8 kernel
(stored as uint8 with zero point 128) exactly in int32, the zero-point correction subtracts zero
point x column sums in int32, and the result is scaled by row scale x column scale, the bias added and
the activation applied. (ONNX's
DynamicQuantizeLinear would quantize the whole tensor with one scale, which is not fastnn's per-row
math, and ONNX Runtime's MatMulInteger takes one zero point per tensor only.)

A quantized convolution is its patches, extracted exactly by a Conv with a one-hot kernel (each
output channel copies one input of the patch, in the kernel's (kh, kw, c) order), then the same
per-row subgraph over each output pixel's patch. The int8 LSTM and GRU have no ONNX form that keeps
their per-step quantization (ONNX's LSTM and GRU operators are float only): export refuses them.
"""
import numpy as np
from onnx import TensorProto

from ..layers import QuantizedConv1D, QuantizedConv2D, QuantizedDense, QuantizedGRU, QuantizedLSTM
from .convolutional import _channels_first, _channels_last, _padding, _spans
from .core import apply_activation
from .registry import converts

_LEVELS = {False: 255.0, True: 127.0}


def _quantized_rows(call, x2, hint):
    """(q uint8, scale, zero point int32): each row of x2 (rows, k) quantized as fnn_quantize_rows_u8."""
    g, levels = call.g, _LEVELS[call.layer.reduce_range]
    zero = g.const(0.0)
    lo = g.op("Min", [g.reduce("ReduceMin", x2, [1], True), zero], call.hint(f"{hint}_lo"))
    hi = g.op("Max", [g.reduce("ReduceMax", x2, [1], True), zero], call.hint(f"{hint}_hi"))
    scale = g.op("Div", [g.op("Sub", [hi, lo]), g.const(levels)])
    scale = g.op("Where", [g.op("Equal", [scale, zero]), g.const(1.0), scale], call.hint(f"{hint}_scale"))
    zero_point = g.op("Min", [g.const(levels), g.op("Round", [g.op("Div", [g.op("Neg", [lo]), scale])])])
    q = g.op("Add", [g.op("Round", [g.op("Div", [x2, scale])]), zero_point])
    q = g.op("Cast", [g.op("Clip", [q, zero, g.const(levels)])], call.hint(f"{hint}_q"), to=TensorProto.UINT8)
    return q, scale, g.cast(zero_point, "int32")


def int8_dense(call, x, hint):
    """act(int8 product of x (..., k) and the layer's kernel + bias), as QuantizedDense computes it."""
    layer, g = call.layer, call.g
    kernel = layer.kernel.reshape(-1, layer.kernel.shape[-1])
    k, n = kernel.shape
    out_shape = g.op("Concat", [g.op("Slice", [g.op("Shape", [x]), g.ints([0]), g.ints([-1])]), g.ints([n])],
                     axis=0)
    x2 = g.op("Reshape", [x, g.ints([-1, k])], call.hint(f"{hint}_rows"))
    q, scale, zero_point = _quantized_rows(call, x2, hint)
    # The kernel goes in as uint8 with zero point 128, the same integers: ONNX Runtime's uint8 x int8
    # kernel on CPUs without AVX-512 VNNI adds products in pairs saturated to int16 (255 x 127 x 2 >
    # 32767), its uint8 x uint8 kernel is exact on every CPU.
    shifted = (kernel.astype(np.int16) + 128).astype(np.uint8)
    zero_points = [g.const(0, "rows_zero_point", np.uint8), g.const(128, "kernel_zero_point", np.uint8)]
    product = g.op("MatMulInteger", [q, g.const(shifted, call.hint("kernel"), np.uint8)] + zero_points,
                   call.hint(f"{hint}_int32"))
    correction = g.op("Mul", [zero_point, g.const(kernel.sum(axis=0, dtype=np.int32)[None], call.hint("col_sums"),
                                                  np.int32)])
    centred = g.cast(g.op("Sub", [product, correction]), "float32")
    y = g.op("Mul", [centred, g.op("Mul", [scale, g.const(layer.kernel_scale[None], call.hint("kernel_scale"))])])
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.bias, call.hint("bias"))])
    y = g.op("Reshape", [y, out_shape], call.hint(f"{hint}_y"))
    return apply_activation(g, y, layer.activation, call.hint())


@converts(QuantizedDense)
def quantized_dense(call):
    return int8_dense(call, call.x, "rows")


def _one_hot_kernel(layer):
    """The (k, c, *window) Conv kernel whose output channel (tap, ch) copies input channel ch at the tap."""
    window, channels = layer.kernel_size, layer.input_channels
    k = int(np.prod(window)) * channels
    w = np.zeros((k, channels) + window, np.float32)
    for tap, position in enumerate(np.ndindex(*window)):
        for ch in range(channels):
            w[(tap * channels + ch, ch) + position] = 1.0
    return w


@converts(QuantizedConv1D, QuantizedConv2D)
def quantized_convolution(call):
    layer, g, rank = call.layer, call.g, call.layer.rank
    kernel = _one_hot_kernel(layer)
    patches = g.op("Conv", [_channels_first(call, call.x, rank), g.const(kernel, call.hint("patch_kernel"))],
                   call.hint("patches"), kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                   dilations=list(layer.dilation_rate),
                   **_padding(call, _spans(layer.kernel_size, layer.dilation_rate), layer.strides, layer.padding))
    return int8_dense(call, _channels_last(call, patches, rank), "patches")


@converts(QuantizedLSTM, QuantizedGRU)
def quantized_recurrent(call):
    raise call.error("ONNX's LSTM and GRU operators are float only, so the int8 forward (inputs and states "
                     "quantized per row at every step) has no ONNX form; export the float model instead")
