"""The Activation layer, an activation function applied on its own outside a Dense, and Keras's
activation layers with arguments: ReLU, LeakyReLU, PReLU, ELU, Softmax."""
import numpy as np

from .. import _C
from ..ops.activations import relu_arguments
from .base import Layer, deserialize_object, register, serialize_object
from .core import _initializer_fn

__all__ = ["Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


@register
class Activation(Layer):
    """Applies an activation function elementwise (softmax: over the last axis).

    When it directly follows a Dense (or another layer that fuses activations) and nothing else reads
    that layer's output, the compile pass moves it into that layer's GEMM epilogue; when it feeds a
    loss that takes logits, the loss absorbs it.

    Args:
        activation: name or fastnn.activations.Activation.

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        from .. import activations

        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, ctx, x):
        y = self.activation.forward(x, out=ctx.buffer("y", x.shape))
        if ctx.training:
            ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy):
        return self.activation.backward(ctx.x, ctx.y, dy, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        from .. import activations

        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


def _number(layer, name, value, minimum=0.0):
    """A layer argument that must be a number >= minimum (Keras refuses negative slopes and caps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{type(layer).__name__} '{layer.name}': {name} must be a number, got {value!r}")
    if not value >= minimum:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {name} must be >= {minimum}, got {value!r}")
    return float(value)


class _ArgumentActivation(Activation):
    """An activation layer that is one of fastnn.activations with the layer's one argument: its config
    holds that argument instead of an `activation` (the compile pass fuses only Activation itself)."""

    function = argument = None

    def __init__(self, value, **kwargs):
        from .. import activations

        Layer.__init__(self, **kwargs)
        setattr(self, self.argument, _number(self, self.argument, value))
        self.activation = activations.Activation(self.function, getattr(self, self.argument))

    def get_config(self):
        config = Layer.get_config(self)
        config[self.argument] = getattr(self, self.argument)
        return config


@register
class LeakyReLU(_ArgumentActivation):
    """max(x, 0) + negative_slope * min(x, 0).

    Args:
        negative_slope: the slope below 0, >= 0 (Keras 3's layer default 0.3; its function's is 0.2).
    """

    function, argument = "leaky_relu", "negative_slope"

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(negative_slope, **kwargs)


@register
class ELU(_ArgumentActivation):
    """x above 0, alpha * (exp(x) - 1) below.

    Args:
        alpha: the scale of the negative part, >= 0 (default 1.0).
    """

    function, argument = "elu", "alpha"

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(alpha, **kwargs)


@register
class Softmax(Activation):
    """exp(x) normalised over one axis.

    Args:
        axis: the axis to normalise over (default -1), any but the batch's. The other axes are moved
            around the last-axis kernel for the call.

    A mask passes through unchanged but does not take part in the normalisation (Keras sets masked
    positions to a large negative number first; in fastnn a layer's mask is per step, not per value).
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Softmax '{self.name}': axis must be an int (one axis), got {axis!r}")
        self.axis = int(axis)

    def _axis(self, rank):
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise self._error(f"axis={self.axis} is not an axis of inputs of rank {rank} other than the batch's")
        return self.axis % rank

    def build(self, input_shape):
        self._axis(len(input_shape))
        super().build(input_shape)

    def forward(self, ctx, x):
        axis = self._axis(x.ndim)
        if axis == x.ndim - 1:
            return super().forward(ctx, x)
        moved = self.activation.forward(np.ascontiguousarray(np.moveaxis(x, axis, -1)))
        y = ctx.buffer("y", x.shape)
        y[...] = np.moveaxis(moved, -1, axis)
        ctx.y_moved = moved  # the backward reads y with the axis last
        return y

    def backward(self, ctx, dy):
        axis = self._axis(dy.ndim)
        if axis == dy.ndim - 1:
            return super().backward(ctx, dy)
        moved = self.activation.backward(None, ctx.y_moved, np.ascontiguousarray(np.moveaxis(dy, axis, -1)))
        dx = ctx.buffer("dx", dy.shape)
        dx[...] = np.moveaxis(moved, -1, axis)
        return dx

    def get_config(self):
        config = Layer.get_config(self)
        config["axis"] = self.axis
        return config


@register
class ReLU(Layer):
    """Keras's ReLU layer: min(x, max_value) where x > threshold, else negative_slope * (x - threshold).

    Args:
        max_value: the cap (None: none), >= 0.
        negative_slope: the slope at or below the threshold, >= 0 (default 0).
        threshold: where the slope changes, >= 0 (default 0).

    Input shape:
        any. Output shape: the same.
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self._args = relu_arguments(negative_slope, max_value, threshold, f"ReLU '{self.name}'")
        self.negative_slope, cap, self.threshold = self._args
        self.max_value = None if max_value is None else cap

    def forward(self, ctx, x):
        if ctx.training:
            ctx.x = x
        return _C.relu_forward(x, ctx.buffer("y", x.shape), *self._args)

    def backward(self, ctx, dy):
        return _C.relu_backward(ctx.x, dy, ctx.buffer("dx", dy.shape), *self._args)

    def get_config(self):
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return config


@register
class PReLU(Layer):
    """max(x, 0) + alpha * min(x, 0) with a trained alpha per input position.

    Args:
        alpha_initializer: initializer name or object (default zeros).
        alpha_regularizer: optional regularizer.
        shared_axes: axes (counted with the batch axis as 0) along which one alpha is shared, e.g. [1, 2]
            for one alpha per channel of images.

    Weights: alpha, shaped as the input without its batch axis, with 1 on the shared axes (Keras's).

    Input shape:
        any, with known sizes on the axes that are not shared. Output shape: the same.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        from .. import initializers, regularizers

        super().__init__(**kwargs)
        if alpha_constraint is not None:
            raise ValueError(f"PReLU '{self.name}': weight constraints are not supported by fastnn")
        axes = [] if shared_axes is None else list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [
            shared_axes]
        if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise TypeError(f"PReLU '{self.name}': shared_axes must be an int or a list of ints, got {shared_axes!r}")
        if any(a < 1 for a in axes):
            raise ValueError(f"PReLU '{self.name}': shared_axes count from the first axis after the batch's (1), "
                             f"got {shared_axes!r}")
        self.shared_axes = None if shared_axes is None else [int(a) for a in axes]
        self.alpha_initializer = deserialize_object(initializers, alpha_initializer)
        self.alpha_regularizer = None if alpha_regularizer is None else deserialize_object(regularizers,
                                                                                          alpha_regularizer)
        self.alpha = None

    def weight_shapes(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis >= len(input_shape):
                raise self._error(f"shared axis {axis} is not an axis of inputs of rank {len(input_shape)}")
            shape[axis - 1] = 1
        if None in shape:
            raise self._error(f"needs known sizes on the axes it does not share, got inputs {tuple(input_shape)}")
        return [tuple(shape)]

    def build(self, input_shape):
        self.alpha = self.add_weight("alpha", self.weight_shapes(input_shape)[0],
                                     _initializer_fn(self.alpha_initializer), self.alpha_regularizer)
        super().build(input_shape)

    def _weights_bound(self):
        self.alpha = self._weights[0]

    def forward(self, ctx, x):
        if x.ndim != self.alpha.ndim + 1 or any(a not in (1, s) for a, s in zip(self.alpha.shape, x.shape[1:])):
            raise self._error(f"expected inputs that alpha {self.alpha.shape} broadcasts to, got shape {x.shape}")
        negative = np.minimum(x, 0.0, out=ctx.buffer("negative", x.shape))
        y = np.maximum(x, 0.0, out=ctx.buffer("y", x.shape))
        y += np.multiply(negative, self.alpha, out=ctx.buffer("scaled", x.shape))
        ctx.x, ctx.negative = x, negative
        return y

    def backward(self, ctx, dy):
        if self._grads[0] is not None:
            # the sum over the batch and shared axes, in float64 in NumPy's fixed order
            product = np.multiply(dy, ctx.negative, out=ctx.buffer("product", dy.shape))
            shared = (0,) + tuple(a for a in range(1, dy.ndim) if self.alpha.shape[a - 1] == 1 and dy.shape[a] != 1)
            self._store_grad(ctx, 0, product.sum(axis=shared, dtype=np.float64, keepdims=True)[0])
        if not ctx.need_dx:
            return None
        x = ctx.x
        slope = np.where(x > 0.0, np.float32(1.0), np.where(x < 0.0, self.alpha, x * np.float32(0.0)))  # NaN stays
        return np.multiply(dy, slope, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config.update(alpha_initializer=serialize_object(self.alpha_initializer),
                      alpha_regularizer=serialize_object(self.alpha_regularizer), shared_axes=self.shared_axes)
        return config
