"""Quantized convolutions for int8 inference: what fastnn.optimize.quantize_dynamic puts in place of
Conv1D and Conv2D (with groups=1). DepthwiseConv2D, SeparableConv2D, Conv2DTranspose and grouped
convolutions stay float32: their per-channel work is too small for the int8 GEMM to pay off."""
import numpy as np

from .. import _C
from .base import register
from .convolutional import ConvBase, _positive_int
from .quantized import Int8Kernel

__all__ = ["QuantizedConv1D", "QuantizedConv2D"]


class QuantizedConv(Int8Kernel, ConvBase):
    """A Conv1D or Conv2D with an int8 kernel: activation(conv(x, kernel * kernel_scale) + bias).

    The kernel (*kernel_size, channels, filters) is held as int8 with one float32 scale per filter. Each
    output pixel's patch (kernel_size x channels inputs) is quantized on the fly to uint8 over its own
    range, as QuantizedDense quantizes a row, and multiplied exactly in int32, one block of output pixels
    at a time (the patches of a block only, never the whole im2col); the bias and the activation run in
    the dequantizing epilogue. A pixel's output depends on its patch only (batch invariance), and is
    bitwise the same on every SIMD path and thread count; NaN or infinity in a patch gives NaN outputs.

    Inference only (no trainable weights, no backward): make one with fastnn.optimize.quantize_dynamic.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias: as the
            float layer's.
        reduce_range: quantize the patches to 7 bits ([0, 127]) instead of 8 (see QuantizedDense).
        **kwargs: name, input_shape.

    Weights: kernel (*kernel_size, channels, filters) int8, kernel_scale (filters,), bias (filters,).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, reduce_range=False, **kwargs):
        kwargs["trainable"] = False
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias, **kwargs)
        self.filters = _positive_int(self, filters, "filters")
        self.reduce_range = bool(reduce_range)
        self.kernel = self.kernel_scale = self.bias = None

    def weight_shapes(self, input_shape):
        channels = self._input_channels(input_shape)
        patch = int(np.prod(self.kernel_size)) * channels
        if patch > _C.QGEMM_MAX_K:
            raise self._error(f"at most {_C.QGEMM_MAX_K} inputs per output pixel, got {patch}")
        shapes = [self.kernel_size + (channels, self.filters), (self.filters,)]
        return shapes + [(self.filters,)] if self.use_bias else shapes

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_channels = self._input_channels(input_shape)
        self._add_int8_weights(shapes)
        super().build(input_shape)

    def _linear(self, ctx, x4, out4, code, alpha):
        kernel_hw = self._window_args()[0]
        args = self._geometry(ctx, x4.shape[1:3], 1)
        block = _C.qconv2d_block_rows(x4.shape, kernel_hw, self.filters, out4.shape, args)
        patch = kernel_hw[0] * kernel_hw[1] * self.input_channels
        _C.qconv2d_forward(x4, kernel_hw, self._packed, self._col_sums, self.kernel_scale, self.bias, args, code,
                           alpha, self.reduce_range, out4, ctx.buffer("patches", (block, patch)),
                           ctx.buffer("q", (block, (patch + 3) // 4 * 4), np.uint8), ctx.buffer("row_scale", (block,)),
                           ctx.buffer("row_zero", (block,), np.int32))

    def get_config(self):
        from .. import activations

        config = super().get_config()
        config["filters"] = self.filters
        self._window_config(config)
        config.update(activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      reduce_range=self.reduce_range)
        return config


@register
class QuantizedConv2D(QuantizedConv):
    __doc__ = QuantizedConv.__doc__.replace("A Conv1D or Conv2D", "A Conv2D") + """
    Input shape:
        (batch, height, width, channels).
    Output shape:
        (batch, out_height, out_width, filters).
    """


@register
class QuantizedConv1D(QuantizedConv):
    __doc__ = QuantizedConv.__doc__.replace("A Conv1D or Conv2D", "A Conv1D") + """
    Input shape:
        (batch, steps, channels); padding may also be 'causal'.
    Output shape:
        (batch, out_steps, filters).
    """

    rank = 1
    padding_modes = ("valid", "same", "causal")
