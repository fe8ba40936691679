"""The other convolution layers: DepthwiseConv2D, SeparableConv2D and Conv2DTranspose, on the same
kernels as Conv2D (a depthwise convolution is a convolution with one group per channel, a separable
one adds a 1x1 convolution, which is a GEMM, and a transposed one is a convolution's data gradient)."""
from .. import _C
from ..ops._window import int_tuple
from ..ops.conv_transpose import TransposeGeometry, _axis
from .base import deserialize_object, register, serialize_object
from .convolutional import BACKWARD_DATA, BACKWARD_FILTER, FORWARD, Conv, ConvBase, _positive_int
from .core import _initializer_fn

__all__ = ["DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"]


def _get(module_name, identifier, optional=False):
    from .. import initializers, regularizers

    module = {"initializers": initializers, "regularizers": regularizers}[module_name]
    return None if optional and identifier is None else deserialize_object(module, identifier)


@register
class DepthwiseConv2D(Conv):
    """Depthwise 2-D convolution: each input channel convolved with its own depth_multiplier filters.

    Args:
        kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias: as Conv2D's.
        depth_multiplier: filters per input channel.
        depthwise_initializer, bias_initializer: initializer names or objects.
        depthwise_regularizer, bias_regularizer: optional regularizers.

    Input shape:
        (batch, height, width, channels).
    Output shape:
        (batch, out_height, out_width, channels * depth_multiplier); output channel
        c * depth_multiplier + q is filter q of input channel c. The kernel (also `depthwise_kernel`)
        is (kh, kw, channels, depth_multiplier), then the bias.
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        ConvBase.__init__(self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, **kwargs)
        self.depth_multiplier = _positive_int(self, depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = self.kernel_initializer = _get("initializers", depthwise_initializer)
        self.depthwise_regularizer = self.kernel_regularizer = _get("regularizers", depthwise_regularizer, True)
        self.kernel = self.depthwise_kernel = self.bias = None

    def weight_shapes(self, input_shape):
        channels = self._input_channels(input_shape)
        kernel = self.kernel_size + (channels, self.depth_multiplier)
        return [kernel, (channels * self.depth_multiplier,)] if self.use_bias else [kernel]

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.groups, self.filters = channels, channels * self.depth_multiplier
        super().build(input_shape)

    def _weights_bound(self):
        super()._weights_bound()
        self.depthwise_kernel = self.kernel

    def _out_channels(self, input_shape):
        return self._input_channels(input_shape) * self.depth_multiplier

    def _kernel4(self):
        kh, kw, c, m = self.kernel.shape
        return self.kernel.reshape(kh, kw, 1, c * m)

    def get_config(self):
        config = ConvBase.get_config(self)
        config["depth_multiplier"] = self.depth_multiplier
        self._window_config(config)
        self._bias_config(config)
        config.update(depthwise_initializer=serialize_object(self.depthwise_initializer),
                      depthwise_regularizer=serialize_object(self.depthwise_regularizer))
        return config


@register
class SeparableConv2D(ConvBase):
    """Depthwise separable 2-D convolution: a depthwise convolution (no bias), then a 1x1 convolution
    with the bias and the activation (in the GEMM's epilogue).

    Args:
        filters: output channels.
        kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, activation,
            use_bias: as DepthwiseConv2D's.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializer names or objects.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: optional regularizers.

    Output shape:
        (batch, out_height, out_width, filters). The weights are depthwise_kernel (kh, kw, channels,
        depth_multiplier), pointwise_kernel (1, 1, channels * depth_multiplier, filters), then the bias.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, **kwargs)
        self.filters = _positive_int(self, filters, "filters")
        self.depth_multiplier = _positive_int(self, depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = _get("initializers", depthwise_initializer)
        self.pointwise_initializer = _get("initializers", pointwise_initializer)
        self.depthwise_regularizer = _get("regularizers", depthwise_regularizer, True)
        self.pointwise_regularizer = _get("regularizers", pointwise_regularizer, True)
        self.depthwise_kernel = self.pointwise_kernel = self.bias = None

    def weight_shapes(self, input_shape):
        channels = self._input_channels(input_shape)
        mid = channels * self.depth_multiplier
        shapes = [self.kernel_size + (channels, self.depth_multiplier), (1, 1, mid, self.filters)]
        return shapes + [(self.filters,)] if self.use_bias else shapes

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_channels = self._input_channels(input_shape)
        self.add_weight("depthwise_kernel", shapes[0], _initializer_fn(self.depthwise_initializer),
                        self.depthwise_regularizer)
        self.add_weight("pointwise_kernel", shapes[1], _initializer_fn(self.pointwise_initializer),
                        self.pointwise_regularizer)
        if self.use_bias:
            self.add_weight("bias", shapes[2], _initializer_fn(self.bias_initializer), self.bias_regularizer)
        self._weights_bound()
        super().build(input_shape)

    def _weights_bound(self):
        self.depthwise_kernel, self.pointwise_kernel = self._weights[:2]
        self.bias = self._weights[2] if self.use_bias else None

    def _depthwise4(self):
        kh, kw, c, m = self.depthwise_kernel.shape
        return self.depthwise_kernel.reshape(kh, kw, 1, c * m)

    def _linear(self, ctx, x4, out4, code, alpha):
        w = self._depthwise4()
        args = self._geometry(ctx, x4.shape[1:3], self.input_channels)
        mid = ctx.buffer("mid", out4.shape[:3] + (w.shape[3],))
        scratch = self._scratch(ctx, x4.shape, w.shape, mid.shape, args, (FORWARD,))
        _C.conv2d_forward(x4, w, None, mid, scratch, args, 0, 0.0, False, self._what)
        _C.sgemm(mid.reshape(-1, w.shape[3]), self.pointwise_kernel.reshape(w.shape[3], self.filters),
                 out4.reshape(-1, self.filters), False, False, False, self.bias, code, alpha)
        ctx.mid = mid

    def _gradients(self, ctx, x4, g4):
        w = self._depthwise4()
        args = self._geometry(ctx, x4.shape[1:3], self.input_channels)
        mid = ctx.mid
        d_depthwise, d_pointwise, db = self._gradient_targets(ctx, ("depthwise_kernel", "pointwise_kernel", "bias"))
        dx4 = ctx.buffer("dx", x4.shape) if ctx.need_dx else None
        dmid = ctx.buffer("dmid", mid.shape) if (dx4 is not None or d_depthwise is not None) else None
        mid2 = mid.reshape(-1, mid.shape[3])
        _C.dense_backward(mid2, self.pointwise_kernel.reshape(mid2.shape[1], self.filters),
                          g4.reshape(-1, self.filters), g4.reshape(-1, self.filters), None, 0,
                          None if d_pointwise is None else d_pointwise.reshape(mid2.shape[1], self.filters), db,
                          None if dmid is None else dmid.reshape(mid2.shape), 0.0)
        passes = ((BACKWARD_DATA,) if dx4 is not None else ()) + ((BACKWARD_FILTER,) if d_depthwise is not None else ())
        if passes:
            scratch = self._scratch(ctx, x4.shape, w.shape, mid.shape, args, passes)
        if dx4 is not None:
            _C.conv2d_backward_data(dmid, w, None, dx4, scratch, args, 0, 0.0, False, self._what)
        if d_depthwise is not None:
            _C.conv2d_backward_filter(x4, dmid, d_depthwise.reshape(w.shape), None, scratch, args, False, self._what)
        self._add_gradients(ctx, (d_depthwise, d_pointwise, db))
        return dx4

    def get_config(self):
        config = super().get_config()
        config.update(depth_multiplier=self.depth_multiplier, filters=self.filters)
        self._window_config(config)
        self._bias_config(config)
        config.update(depthwise_initializer=serialize_object(self.depthwise_initializer),
                      pointwise_initializer=serialize_object(self.pointwise_initializer),
                      depthwise_regularizer=serialize_object(self.depthwise_regularizer),
                      pointwise_regularizer=serialize_object(self.pointwise_regularizer))
        return config


@register
class Conv2DTranspose(Conv):
    """Transposed 2-D convolution (sometimes called deconvolution): the data gradient of the
    convolution that maps its output back onto its input, plus the bias and the activation.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            initializers, regularizers: as Conv2D's.
        output_padding: None, or an int or pair, each smaller than its stride: extra rows and columns
            at the bottom and right of the output.

    Output shape:
        (batch, out_height, out_width, filters): with output_padding None, size * stride for 'same'
        and size * stride + max(kernel - stride, 0) for 'valid' (kernel dilated). The kernel is
        (kh, kw, filters, channels), then the bias.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, **kwargs)
        self.output_padding = None if output_padding is None else \
            int_tuple(output_padding, 2, "output_padding", self._what, 0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{self._what}: output_padding {self.output_padding} must be smaller than strides "
                             f"{self.strides}")

    def weight_shapes(self, input_shape):
        kernel = self.kernel_size + (self.filters, self._input_channels(input_shape))
        return [kernel, (self.filters,)] if self.use_bias else [kernel]

    def _out_size(self, size, axis):
        extra = None if self.output_padding is None else self.output_padding[axis]
        out = _axis(size, self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis], self.padding, extra)[0]
        if out < 1:
            raise ValueError(f"{self._what}: an input of size {size} gives an empty output")
        return out

    def _geometry(self, ctx, hw, groups):
        cached = getattr(ctx, "geometry", None)
        if cached is None or cached[0] != hw:
            cached = (hw, TransposeGeometry(hw, self.kernel_size, self.strides, self.padding, self.output_padding,
                                            self.dilation_rate, self._what))
            ctx.geometry = cached
        return cached[1].args

    def _linear(self, ctx, x4, out4, code, alpha):
        args = self._geometry(ctx, x4.shape[1:3], 1)
        scratch = self._scratch(ctx, out4.shape, self.kernel.shape, x4.shape, args, (BACKWARD_DATA,))
        _C.conv2d_backward_data(x4, self.kernel, self.bias, out4, scratch, args, code, alpha, False, self._what)

    def _gradients(self, ctx, x4, g4):
        args = self._geometry(ctx, x4.shape[1:3], 1)
        dk, db = self._gradient_targets(ctx, ("kernel", "bias"))
        dx4 = ctx.buffer("dx", x4.shape) if ctx.need_dx else None
        passes = ((FORWARD,) if dx4 is not None else ()) + ((BACKWARD_FILTER,) if dk is not None else ())
        if passes:
            scratch = self._scratch(ctx, g4.shape, self.kernel.shape, x4.shape, args, passes)
        if dx4 is not None:
            _C.conv2d_forward(g4, self.kernel, None, dx4, scratch, args, 0, 0.0, False, self._what)
        if dk is not None:
            _C.conv2d_backward_filter(g4, x4, dk, None, scratch, args, False, self._what)
        if db is not None:
            _C.bias_grad(g4.reshape(-1, g4.shape[-1]), db)
        self._add_gradients(ctx, (dk, db))
        return dx4

    def get_config(self):
        config = super().get_config()
        del config["groups"]
        config["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config
