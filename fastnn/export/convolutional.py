"""Converters of the convolution, pooling, batch-normalization and image-shape layers.

fastnn's images are channels-last (NHWC, sequences NWC); ONNX's Conv, ConvTranspose and pooling
operators take channels-first. So each such call is Transpose -> operator -> Transpose, with the
weights transposed to ONNX's (out, in / groups, kh, kw) once at export (ONNX Runtime's optimizer
cancels the transposes between consecutive layers). 'same' padding becomes explicit pads where the
size is known (Keras pads the odd cell after, as ONNX's SAME_UPPER, which is used when it is not).
"""
import numpy as np

from ..layers import (AveragePooling1D, AveragePooling2D, BatchNormalization, Conv1D, Conv2D, Conv2DTranspose,
                      Cropping2D, DepthwiseConv2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D, SeparableConv2D, UpSampling2D, ZeroPadding2D)
from ..ops.conv_transpose import _axis as transpose_axis
from .core import apply_activation
from .registry import converts

_TO_CHANNELS_FIRST = {1: [0, 2, 1], 2: [0, 3, 1, 2]}
_TO_CHANNELS_LAST = {1: [0, 2, 1], 2: [0, 2, 3, 1]}
_INT64_MAX = np.iinfo(np.int64).max


def _channels_first(call, x, rank):
    return call.g.op("Transpose", [x], call.hint("nchw"), perm=_TO_CHANNELS_FIRST[rank])


def _channels_last(call, x, rank):
    return call.g.op("Transpose", [x], call.hint("nhwc"), perm=_TO_CHANNELS_LAST[rank])


def _padding(call, window, strides, mode):
    """Pads (or auto_pad) attributes for Keras's 'valid', 'same' or 'causal' on the call's input."""
    if mode == "valid":
        return {}
    sizes = call.shape[1:-1]
    if mode == "causal":
        return {"pads": [w - 1 for w in window] + [0] * len(window)}
    if None in sizes:
        return {"auto_pad": "SAME_UPPER"}
    totals = [max((-(-size // s) - 1) * s + w - size, 0) for size, w, s in zip(sizes, window, strides)]
    return {"pads": [t // 2 for t in totals] + [t - t // 2 for t in totals]}


def _spans(kernel, dilation):
    return [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]


def _onnx_kernel(kernel4, rank):
    """A (kh, kw, in / groups, out) kernel as ONNX's (out, in / groups, kh, kw), or (out, in, k) for 1-D
    (the 4-D view of a 1-D kernel has kh = 1)."""
    w = np.ascontiguousarray(kernel4.transpose(3, 2, 0, 1))
    return w[:, :, 0, :] if rank == 1 else w


def _finish(call, y, rank):
    return apply_activation(call.g, _channels_last(call, y, rank), call.layer.activation, call.hint())


def _conv_node(call, x, weight, bias, groups, rank, hint):
    layer = call.layer
    inputs = [x, call.g.const(weight, call.hint(f"{hint}_kernel"))]
    if bias is not None:
        inputs.append(call.g.const(bias, call.hint("bias")))
    kernel = list(weight.shape[2:])
    return call.g.op("Conv", inputs, call.hint(hint), kernel_shape=kernel, strides=list(layer.strides),
                     dilations=list(layer.dilation_rate), group=groups,
                     **_padding(call, _spans(kernel, layer.dilation_rate), layer.strides, layer.padding))


@converts(Conv1D, Conv2D, DepthwiseConv2D)
def convolution(call):
    """Conv with the kernel as (filters, channels / groups, *window); a depthwise kernel (kh, kw, c, m) is
    c groups of m filters each."""
    layer, rank = call.layer, call.layer.rank
    y = _conv_node(call, _channels_first(call, call.x, rank), _onnx_kernel(layer._kernel4(), rank), layer.bias,
                   layer.groups, rank, "conv")
    return _finish(call, y, rank)


@converts(SeparableConv2D)
def separable_convolution(call):
    """A depthwise Conv (one group per channel, no bias) then a 1x1 Conv with the bias."""
    layer = call.layer
    depthwise = _onnx_kernel(layer._depthwise4(), 2)
    mid = _conv_node(call, _channels_first(call, call.x, 2), depthwise, None, depthwise.shape[0] // layer.depth_multiplier,
                     2, "depthwise")
    pointwise = np.ascontiguousarray(layer.pointwise_kernel.transpose(3, 2, 0, 1))
    inputs = [mid, call.g.const(pointwise, call.hint("pointwise_kernel"))]
    if layer.bias is not None:
        inputs.append(call.g.const(layer.bias, call.hint("bias")))
    y = call.g.op("Conv", inputs, call.hint("pointwise"), kernel_shape=[1, 1])
    return _finish(call, y, 2)


@converts(Conv2DTranspose)
def transposed_convolution(call):
    """ConvTranspose with Keras's output size: pads from TensorFlow's rule, and output_padding where the
    output reaches past the last window (valid padding with strides larger than the window)."""
    layer = call.layer
    if None in call.shape[1:3]:
        raise call.error("its output size depends on the image size, which is unknown")
    extra = layer.output_padding or (None, None)
    spans = _spans(layer.kernel_size, layer.dilation_rate)
    begins, ends, output_padding = [], [], []
    for size, span, stride, more in zip(call.shape[1:3], spans, layer.strides, extra):
        out, before = transpose_axis(size, layer.kernel_size[len(begins)], stride, layer.dilation_rate[len(begins)],
                                     layer.padding, more)
        after = (size - 1) * stride + span - before - out  # negative: the output extends past the last window
        begins.append(before)
        ends.append(max(after, 0))
        output_padding.append(max(-after, 0))
    inputs = [_channels_first(call, call.x, 2),
              call.g.const(np.ascontiguousarray(layer.kernel.transpose(3, 2, 0, 1)), call.hint("kernel"))]
    if layer.bias is not None:
        inputs.append(call.g.const(layer.bias, call.hint("bias")))
    y = call.g.op("ConvTranspose", inputs, call.hint("conv_transpose"), kernel_shape=list(layer.kernel_size),
                  strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=begins + ends,
                  output_padding=output_padding)
    return _finish(call, y, 2)


@converts(MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D)
def pooling(call):
    """MaxPool / AveragePool; the average leaves padded cells out (count_include_pad=0), as Keras."""
    layer, rank = call.layer, call.layer.rank
    attributes = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                      **_padding(call, layer.pool_size, layer.strides, layer.padding))
    x = _channels_first(call, call.x, rank)
    if layer.kind == "avg":
        y = call.g.op("AveragePool", [x], call.hint("pool"), count_include_pad=0, **attributes)
    else:
        y = call.g.op("MaxPool", [x], call.hint("pool"), **attributes)
    return _channels_last(call, y, rank)


@converts(GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling2D)
def global_pooling(call):
    layer = call.layer
    axes = list(range(1, layer.rank + 1))
    return call.g.reduce("ReduceMax" if layer.kind == "max" else "ReduceMean", call.x, axes, layer.keepdims,
                         call.hint())


@converts(GlobalAveragePooling1D)
def global_average_pooling_1d(call):
    """The mean over the steps; with a mask, over the unmasked steps only (all masked: 0 / 0 = NaN)."""
    call.output_mask = None
    if call.mask is None:
        return global_pooling(call)
    g, keepdims = call.g, call.layer.keepdims
    weights = g.unsqueeze(g.cast(call.mask, "float32"), [-1], call.hint("weights"))
    sums = g.reduce("ReduceSum", g.op("Mul", [call.x, weights]), [1], keepdims)
    counts = g.reduce("ReduceSum", weights, [1], keepdims)
    return g.op("Div", [sums, counts], call.hint())


@converts(BatchNormalization)
def batch_normalization(call):
    """BatchNormalization (inference form, Keras's epsilon) over its channel axis, moved to axis 1."""
    layer, g = call.layer, call.g
    if call.training and layer.trainable:
        raise call.error("the model calls it with training=True, so it normalizes with each batch's statistics")
    channels = layer.moving_mean.shape[0]
    gamma = layer.gamma if layer.scale else np.ones(channels, np.float32)
    beta = layer.beta if layer.center else np.zeros(channels, np.float32)
    stats = [g.const(v, call.hint(n)) for v, n in ((gamma, "gamma"), (beta, "beta"), (layer.moving_mean, "moving_mean"),
                                                   (layer.moving_variance, "moving_variance"))]
    rank = len(call.shape)
    axis = layer.channel_axis(rank)
    if axis == 1:
        return g.op("BatchNormalization", [call.x] + stats, call.hint(), epsilon=layer.epsilon)
    first = [0, axis] + [i for i in range(1, rank) if i != axis]
    x = g.op("Transpose", [call.x], call.hint("channels_first"), perm=first)
    y = g.op("BatchNormalization", [x] + stats, call.hint("normalized"), epsilon=layer.epsilon)
    return g.op("Transpose", [y], call.hint(), perm=[int(i) for i in np.argsort(first)])


@converts(ZeroPadding2D)
def zero_padding(call):
    (top, bottom), (left, right) = call.layer.padding
    return call.g.op("Pad", [call.x, call.g.ints([0, top, left, 0, 0, bottom, right, 0], "pads")], call.hint())


@converts(Cropping2D)
def cropping(call):
    (top, bottom), (left, right) = call.layer.cropping
    ends = [-bottom if bottom else _INT64_MAX, -right if right else _INT64_MAX]
    return call.g.op("Slice", [call.x, call.g.ints([top, left]), call.g.ints(ends), call.g.ints([1, 2])], call.hint())


@converts(UpSampling2D)
def up_sampling(call):
    """Resize by whole factors: nearest repeats each pixel (asymmetric, floor), bilinear samples at
    half-pixel centres as TensorFlow's resize. The scales cover all four axes, without Resize's `axes`
    attribute: ONNX Runtime's transpose optimizer mishandles a partial Resize between layout Transposes."""
    layer, g = call.layer, call.g
    scales = g.const(np.asarray([1, *layer.size, 1], np.float32), call.hint("scales"))
    if layer.interpolation == "nearest":
        modes = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        modes = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    return g.op("Resize", [call.x, "", scales], call.hint(), **modes)
