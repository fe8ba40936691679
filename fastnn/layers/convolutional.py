"""Convolution layers: Conv1D and Conv2D, and the base every convolution layer shares.

Every convolution runs on the implicit-GEMM kernels of fastnn.ops.conv over NHWC images (a 1-D
sequence is a one-row image). The bias and an elementwise activation run in the kernels' epilogue;
the compile pass may hand a layer another activation (an Activation layer after it) or none (a loss
that takes logits), and forward applies ctx.activation. Scratch memory lives in the call's context.
"""
import numpy as np

from .. import _C
from ..ops._window import int_tuple, padding_mode, window_axis
from ..ops.conv import ConvGeometry
from .base import Layer, check_data_format, deserialize_object, register, serialize_object
from .core import KernelAndBias
from .fused_activation import activation_plan

__all__ = ["Conv1D", "Conv2D"]

FORWARD, BACKWARD_DATA, BACKWARD_FILTER = 0, 1, 2


def _positive_int(layer, value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {name} must be a positive int, got {value!r}")
    return int(value)


class ConvBase(Layer):
    """What every convolution layer shares: the window arguments, the bias, the activation and its
    place in the epilogue, the scratch, and forward/backward around the subclass's linear pass.

    Subclasses set `rank` and implement weight_shapes, build and the linear passes
    _linear(ctx, x4, out4, code, alpha) and _gradients(ctx, x4, g4) (returns dx4 or None), on NHWC
    arrays (4-D views of 1-D data).
    """

    rank = 2
    fuses_activation = True
    padding_modes = ("valid", "same")

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, bias_initializer="zeros", bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        from .. import activations, initializers, regularizers

        what = f"{type(self).__name__} '{self.name}'"
        check_data_format(self, data_format)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size", what)
        self.strides = int_tuple(strides, self.rank, "strides", what)
        self.padding = padding_mode(padding, what, self.padding_modes)
        self.data_format = "channels_last"
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate", what)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{what}: strides > 1 together with dilation_rate > 1 is not supported (as Keras), "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = deserialize_object(initializers, bias_initializer)
        self.bias_regularizer = None if bias_regularizer is None else deserialize_object(regularizers, bias_regularizer)
        self._what = what

    # ----- shapes ----------------------------------------------------------------------------------
    def _input_channels(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            layout = "(batch, steps, channels)" if self.rank == 1 else "(batch, height, width, channels)"
            raise ValueError(f"{self._what} needs inputs {layout} with a known channel count, got shape {input_shape}")
        return int(input_shape[-1])

    def _padded(self, shape):
        """A rank-1 shape or array as a one-row image (batch, 1, steps, channels)."""
        return shape if self.rank == 2 else shape[:1] + (1,) + shape[1:]

    def _window_args(self):
        """(kernel, strides, dilations) as (rows, columns) pairs."""
        if self.rank == 2:
            return self.kernel_size, self.strides, self.dilation_rate
        return (1,) + self.kernel_size, (1,) + self.strides, (1,) + self.dilation_rate

    def compute_output_shape(self, input_shape):
        self._input_channels(input_shape)
        spatial = tuple(None if size is None else self._out_size(size, axis)
                        for axis, size in enumerate(input_shape[1:-1]))
        return (input_shape[0],) + spatial + (self._out_channels(input_shape),)

    def _out_channels(self, input_shape):
        return self.filters

    def _out_size(self, size, axis):
        """Output size along spatial axis `axis` (window arithmetic of ops.conv)."""
        kernel, strides, dilation = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        return window_axis(size, (kernel - 1) * dilation + 1, strides, self.padding, self._what,
                           ("steps",) if self.rank == 1 else ("rows", "columns")[axis])[0]

    # ----- the call --------------------------------------------------------------------------------
    def _geometry(self, ctx, hw, groups):
        """The kernels' window arguments for (rows, columns) inputs, kept in the context per input size."""
        cached = getattr(ctx, "geometry", None)
        if cached is None or cached[0] != hw:
            kernel, strides, dilation = self._window_args()
            cached = (hw, ConvGeometry(hw, kernel, strides, self.padding, dilation, groups, self._what,
                                       self.padding_modes))
            ctx.geometry = cached
        return cached[1].args

    def _scratch(self, ctx, x_shape, w_shape, y_shape, args, passes):
        threads = _C.get_num_threads()
        floats = max(_C.conv2d_scratch_floats(x_shape, w_shape, y_shape, args, p, threads) for p in passes)
        return ctx.buffer("scratch", (floats,))

    def forward(self, ctx, x):
        if x.ndim != self.rank + 2 or x.shape[-1] != self.input_channels:
            raise self._error(f"expected inputs of shape (batch, {', '.join(['...'] * self.rank)}, "
                              f"{self.input_channels}), got {x.shape}")
        code, alpha, separate = activation_plan(ctx)
        out_shape = self.compute_output_shape(x.shape)
        y = ctx.buffer("y", out_shape)
        z = y if separate is None else ctx.buffer("z", out_shape)
        x4 = x.reshape(self._padded(x.shape))
        self._linear(ctx, x4, z.reshape(self._padded(z.shape)), code, alpha)
        if separate is not None:
            separate.forward(z, out=y)
        if ctx.training:
            ctx.x4, ctx.x_shape, ctx.y, ctx.z = x4, x.shape, y, z
        return y

    def backward(self, ctx, dy):
        code, alpha, separate = ctx.activation_plan
        if separate is not None:
            dy = separate.backward(ctx.z, ctx.y, dy, out=ctx.buffer("dz", dy.shape))
        elif code:
            dy = _C.activation_backward(code, None, ctx.y, dy, ctx.buffer("dz", dy.shape), alpha)
        dx4 = self._gradients(ctx, ctx.x4, dy.reshape(self._padded(dy.shape)))
        return None if dx4 is None else dx4.reshape(ctx.x_shape)

    def _gradient_targets(self, ctx, names):
        """The arrays backward writes each weight's gradient into (None for a weight not trained): the
        layer's own, or with ctx.accumulate scratch that _add_gradients then adds."""
        targets = []
        for i, name in enumerate(names):
            grad = self._grads[i] if i < len(self._grads) else None
            targets.append(grad if grad is None or not ctx.accumulate else ctx.buffer(f"d{name}", grad.shape))
        return targets

    def _add_gradients(self, ctx, targets):
        if ctx.accumulate:
            for grad, target in zip(self._grads, targets):
                if grad is not None:
                    grad += target

    def _bias_config(self, config):
        from .. import activations

        config.update(activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      bias_initializer=serialize_object(self.bias_initializer),
                      bias_regularizer=serialize_object(self.bias_regularizer))
        return config

    def _window_config(self, config):
        config.update(kernel_size=list(self.kernel_size), strides=list(self.strides), padding=self.padding,
                      data_format=self.data_format, dilation_rate=list(self.dilation_rate))
        return config


class Conv(KernelAndBias, ConvBase):
    """Conv1D and Conv2D: kernel (*kernel_size, channels / groups, filters), then the bias."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, **kwargs)
        from .. import initializers, regularizers

        self.filters = _positive_int(self, filters, "filters")
        self.groups = _positive_int(self, groups, "groups")
        if self.filters % self.groups:
            raise ValueError(f"{self._what}: groups={self.groups} must divide filters={self.filters}")
        self.kernel_initializer = deserialize_object(initializers, kernel_initializer)
        self.kernel_regularizer = None if kernel_regularizer is None else deserialize_object(regularizers,
                                                                                           kernel_regularizer)
        self.kernel = self.bias = None

    def weight_shapes(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{self._what}: groups={self.groups} must divide the {channels} input channels")
        kernel = self.kernel_size + (channels // self.groups, self.filters)
        return [kernel, (self.filters,)] if self.use_bias else [kernel]

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_channels = self._input_channels(input_shape)
        self._add_kernel_and_bias(shapes)
        super().build(input_shape)

    def _kernel4(self):
        """The kernel as the kernels' (kh, kw, channels / groups, filters)."""
        return self.kernel[None] if self.rank == 1 else self.kernel

    def _linear(self, ctx, x4, out4, code, alpha):
        w = self._kernel4()
        args = self._geometry(ctx, x4.shape[1:3], self.groups)
        scratch = self._scratch(ctx, x4.shape, w.shape, out4.shape, args, (FORWARD,))
        _C.conv2d_forward(x4, w, self.bias, out4, scratch, args, code, alpha, False, self._what)

    def _gradients(self, ctx, x4, g4):
        w = self._kernel4()
        args = self._geometry(ctx, x4.shape[1:3], self.groups)
        dk, db = self._gradient_targets(ctx, ("kernel", "bias"))
        dx4 = ctx.buffer("dx", x4.shape) if ctx.need_dx else None
        passes = ((BACKWARD_DATA,) if dx4 is not None else ()) + ((BACKWARD_FILTER,) if dk is not None else ())
        if passes:
            scratch = self._scratch(ctx, x4.shape, w.shape, g4.shape, args, passes)
        if dx4 is not None:
            _C.conv2d_backward_data(g4, w, None, dx4, scratch, args, 0, 0.0, False, self._what)
        if dk is not None:
            _C.conv2d_backward_filter(x4, g4, dk.reshape(w.shape), db, scratch, args, False, self._what)
        elif db is not None:
            _C.bias_grad(g4.reshape(-1, g4.shape[-1]), db)
        self._add_gradients(ctx, (dk, db))
        return dx4

    def get_config(self):
        config = super().get_config()
        config["filters"] = self.filters
        self._window_config(config)
        config["groups"] = self.groups
        self._bias_config(config)
        config.update(kernel_initializer=serialize_object(self.kernel_initializer),
                      kernel_regularizer=serialize_object(self.kernel_regularizer))
        return config


@register
class Conv2D(Conv):
    """2-D convolution of channels-last images: activation(conv(x, kernel) + bias).

    Args:
        filters: number of output channels.
        kernel_size: an int or a (rows, columns) pair.
        strides: an int or a pair (default 1).
        padding: 'valid' (windows inside the image) or 'same' (ceil(size / stride) outputs).
        data_format: only 'channels_last' (or None).
        dilation_rate: an int or a pair; not together with strides > 1.
        groups: channel groups; input group g meets filter group g (divides channels and filters).
        activation: name or fastnn.activations.Activation; None means linear.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: initializer names or objects.
        kernel_regularizer, bias_regularizer: optional regularizers.
        **kwargs: name, trainable, input_shape.

    Input shape:
        (batch, height, width, channels).
    Output shape:
        (batch, out_height, out_width, filters). The kernel is (kh, kw, channels / groups, filters).

    Example:
        >>> Conv2D(32, 3, padding="same", activation="relu", input_shape=(28, 28, 1))
    """


@register
class Conv1D(Conv):
    """1-D convolution of channels-last sequences: activation(conv(x, kernel) + bias).

    Args:
        filters, kernel_size, strides, dilation_rate, groups, activation, use_bias, initializers,
            regularizers: as Conv2D's, with ints.
        padding: 'valid', 'same' or 'causal' (kernel - 1 dilated steps of zeros before the sequence,
            so no output sees a later step).

    Input shape:
        (batch, steps, channels).
    Output shape:
        (batch, out_steps, filters). The kernel is (kernel_size, channels / groups, filters).
    """

    rank = 1
    padding_modes = ("valid", "same", "causal")
