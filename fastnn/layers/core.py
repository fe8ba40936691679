"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape.

Every layer keeps its forward outputs and backward results in buffers it allocates once per input
shape and reuses, so a training step makes no temporary arrays.
"""
import math

import numpy as np

from .. import _config, ops
from ..ops import nn as _nn
from .base import Layer, deserialize_object, normalize_shape, register, serialize_object

__all__ = ["InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape"]


def _activations():
    from .. import activations

    return activations


@register
class InputLayer(Layer):
    """Declares the shape of one sample; the first element of a Sequential model. Identity otherwise.

    Args:
        shape: shape of one sample, without the batch dimension, e.g. (8,).
        batch_size: optional fixed batch size (kept for the config only).
        batch_shape: alternative to shape + batch_size: the full shape, batch first.
        name: optional name.

    Example:
        >>> model = Sequential([Input(shape=(8,)), Dense(1)])
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, sparse=False, **kwargs):
        if (shape is None) == (batch_shape is None):
            raise ValueError("InputLayer: give exactly one of shape= or batch_shape=")
        if sparse:
            raise ValueError("InputLayer: sparse inputs are not supported")
        super().__init__(name=name or None, dtype=dtype, **kwargs)
        if batch_shape is not None:
            batch_shape = normalize_shape(batch_shape, "InputLayer batch_shape")
            if not batch_shape:
                raise ValueError("InputLayer: batch_shape needs at least the batch dimension")
        else:
            batch_shape = (batch_size,) + normalize_shape(shape, "InputLayer shape")
        self.batch_shape = batch_shape
        self.build(batch_shape)

    def forward(self, x, training=False):
        return x

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": "float32", "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """An InputLayer declaring the sample shape, to put first in a Sequential model (Keras's keras.Input)."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)


@register
class Dense(Layer):
    """Fully connected layer: activation(x @ kernel + bias), on the last axis of x.

    Bias and the activations linear/relu/sigmoid/tanh run fused in the GEMM epilogue.

    Args:
        units: output size (positive int).
        activation: name or fastnn.activations.Activation; None means linear.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: initializer names or objects.
        kernel_regularizer, bias_regularizer: optional regularizers; their penalty joins the loss.
        **kwargs: name, trainable, input_dim / input_shape (for the first layer of a model).

    Input shape:
        (batch, ..., input_dim).
    Output shape:
        (batch, ..., units).

    Example:
        >>> Dense(10, activation='relu', input_dim=8)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense '{self.name}': units must be a positive int, got {units!r}")
        from .. import initializers, regularizers

        self.units = int(units)
        self.activation = _activations().get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = deserialize_object(initializers, kernel_initializer)
        self.bias_initializer = deserialize_object(initializers, bias_initializer)
        self.kernel_regularizer = None if kernel_regularizer is None else deserialize_object(regularizers, kernel_regularizer)
        self.bias_regularizer = None if bias_regularizer is None else deserialize_object(regularizers, bias_regularizer)
        self._linear = self.activation.name == "linear"
        # A fused activation runs in the GEMM epilogue; its backward reads only y, never z.
        self._epilogue = self.activation.name if self.activation.fused and not self._linear else None
        self._separate = not self.activation.fused
        self._act_backward = self.activation.backward
        self._act_forward = self.activation.forward
        self._x_shape = None
        self._buffers = {}
        self.kernel = self.bias = self._dkernel = self._dbias = None

    def weight_shapes(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}' needs inputs of rank >= 2 with a known last dimension, "
                             f"got shape {input_shape}")
        kernel = (int(input_shape[-1]), self.units)
        return [kernel, (self.units,)] if self.use_bias else [kernel]

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_dim = shapes[0][0]
        self.add_weight("kernel", shapes[0], _initializer_fn(self.kernel_initializer), self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", shapes[1], _initializer_fn(self.bias_initializer), self.bias_regularizer)
        self._has_regularizer = any(r is not None for r in self._regularizers)
        self._weights_bound()
        super().build(input_shape)

    def _weights_bound(self):
        self.kernel, self._dkernel = self._weights[0], self._grads[0]
        if self.use_bias:
            self.bias, self._dbias = self._weights[1], self._grads[1]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _prepare(self, shape):
        """Validate a new input shape and switch to the buffers for it."""
        if len(shape) < 2 or shape[-1] != self.input_dim:
            raise self._error(f"expected input with last dimension {self.input_dim}, got shape {tuple(shape)}")
        rows = math.prod(shape[:-1])
        buffers = self._buffers.get(rows)
        if buffers is None:
            f32 = np.float32
            buffers = (np.empty((rows, self.units), f32), np.empty((rows, self.units), f32),
                       np.empty((rows, self.units), f32), np.empty((rows, self.input_dim), f32))
            self._buffers[rows] = buffers
        self._y, self._z, self._dz, self._dx = buffers
        self._rows_shape = None if len(shape) == 2 else (rows, self.input_dim)
        self._out_shape = None if len(shape) == 2 else tuple(shape[:-1]) + (self.units,)
        self._x_shape = shape

    def forward(self, x, training=False):
        if x.shape != self._x_shape:
            self._prepare(x.shape)
        if self._rows_shape is not None:
            x = x.reshape(self._rows_shape)
        self._x = x
        if self._separate:
            z = ops.dense(x, self.kernel, self.bias, None, out=self._z)
            y = self._act_forward(z, out=self._y)
        else:
            y = ops.dense(x, self.kernel, self.bias, self._epilogue, out=self._y)
        return y if self._out_shape is None else y.reshape(self._out_shape)

    def backward(self, dy):
        if self._rows_shape is not None:
            dy = dy.reshape(self._y.shape)
        if self._separate:
            return self._backward_from(self._act_backward(self._z, self._y, dy, out=self._dz), None)
        return self._backward_from(dy, self._epilogue)

    def forward_logits(self, x):
        """The pre-activation z = x @ kernel + bias (for a loss fused with this layer's activation)."""
        if x.shape != self._x_shape:
            self._prepare(x.shape)
        if self._rows_shape is not None:
            x = x.reshape(self._rows_shape)
        self._x = x
        z = ops.dense(x, self.kernel, self.bias, None, out=self._z)
        return z if self._out_shape is None else z.reshape(self._out_shape)

    def activate_logits(self):
        """activation(z) of the last forward_logits, for metrics."""
        y = self._act_forward(self._z, out=self._y)
        return y if self._out_shape is None else y.reshape(self._out_shape)

    def backward_logits(self, dz):
        """Backward from the gradient with respect to the pre-activation z."""
        if self._rows_shape is not None:
            dz = dz.reshape(self._y.shape)
        return self._backward_from(dz, None)

    def _backward_from(self, dy, activation):
        """Weight, bias and input gradients in one fused call; activation is the fused epilogue's, if any."""
        if self.trainable:
            dx = ops.dense_backward_into(self._x, self.kernel, dy, self._y, activation, dz=self._dz,
                                         dw=self._dkernel, db=self._dbias, dx=self._dx if self._need_dx else None)
            if self._has_regularizer:
                self._add_regularizer_grads()
        else:
            dx = ops.dense_backward_into(self._x, self.kernel, dy, self._y, activation, dz=self._dz, dw=None,
                                         db=None, dx=self._dx if self._need_dx else None)
        if dx is None or self._rows_shape is None:
            return dx
        return dx.reshape(self._x_shape)

    def get_config(self):
        from .. import activations

        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
                      kernel_initializer=serialize_object(self.kernel_initializer),
                      bias_initializer=serialize_object(self.bias_initializer),
                      kernel_regularizer=serialize_object(self.kernel_regularizer),
                      bias_regularizer=serialize_object(self.bias_regularizer))
        return config


def _initializer_fn(initializer):
    return initializer if callable(initializer) else initializer.init


@register
class Activation(Layer):
    """Applies an activation function elementwise (softmax: over the last axis).

    Args:
        activation: name or fastnn.activations.Activation.

    Input shape:
        any. Output shape: the same.
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations().get(activation)
        self._act_forward = self.activation.forward
        self._act_backward = self.activation.backward
        self._x_shape = None
        self._buffers = {}

    def _prepare(self, shape):
        buffers = self._buffers.get(shape)
        if buffers is None:
            buffers = self._buffers[shape] = (np.empty(shape, np.float32), np.empty(shape, np.float32))
        self._y, self._dx = buffers
        self._x_shape = shape

    def forward(self, x, training=False):
        if x.shape != self._x_shape:
            self._prepare(x.shape)
        self._x = x
        return self._act_forward(x, out=self._y)

    def backward(self, dy):
        return self._act_backward(self._x, self._y, dy, out=self._dx)

    def forward_logits(self, x):
        """The input itself: the pre-activation for a loss fused with this activation."""
        if x.shape != self._x_shape:
            self._prepare(x.shape)
        self._x = x
        return x

    def activate_logits(self):
        return self._act_forward(self._x, out=self._y)

    def backward_logits(self, dz):
        return dz

    def get_config(self):
        from .. import activations

        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


@register
class Dropout(Layer):
    """Inverted dropout: while training, zero each input with probability `rate` and scale the rest by 1/(1-rate).

    Args:
        rate: fraction to drop, in [0, 1).
        noise_shape: optional mask shape broadcast against the input (None entries take the input's size).
        seed: optional int for a private generator; otherwise masks come from fastnn's seeded generator.

    Input shape:
        any. Output shape: the same. At inference the layer is the identity.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': rate must be a number in [0, 1), got {rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"Dropout '{self.name}': seed must be a non-negative int or None, got {seed!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(None if d is None else int(d) for d in noise_shape)
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(self.seed)
        self._scale = np.float32(1.0 / (1.0 - self.rate))
        self._rate32 = np.float32(self.rate)
        self._x_shape = None
        self._mask = None
        self._buffers = {}

    def _prepare(self, shape):
        mask_shape = shape
        if self.noise_shape is not None:
            if len(self.noise_shape) != len(shape):
                raise self._error(f"noise_shape {self.noise_shape} does not match inputs of shape {shape}")
            mask_shape = tuple(s if n is None else n for n, s in zip(self.noise_shape, shape))
        buffers = self._buffers.get(shape)
        if buffers is None:
            buffers = self._buffers[shape] = (np.empty(mask_shape, np.float32), np.empty(mask_shape, np.float32),
                                              np.empty(shape, np.float32), np.empty(shape, np.float32))
        self._uniform, self._mask_buf, self._y, self._dx = buffers
        self._x_shape = shape

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        if x.shape != self._x_shape:
            self._prepare(x.shape)
        rng = self._rng or _config.generator()
        uniform, mask = self._uniform, self._mask_buf
        rng.random(dtype=np.float32, out=uniform)
        np.greater_equal(uniform, self._rate32, out=mask)
        mask *= self._scale
        self._mask = mask
        return np.multiply(x, mask, out=self._y)

    def backward(self, dy):
        if self._mask is None:
            return dy
        return np.multiply(dy, self._mask, out=self._dx)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=None if self.noise_shape is None else list(self.noise_shape),
                      seed=self.seed)
        return config


@register
class Flatten(Layer):
    """Flattens each sample to one dimension: (batch, d1, d2, ...) -> (batch, d1*d2*...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten '{self.name}': only data_format='channels_last' is supported")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._x_shape)


@register
class Reshape(Layer):
    """Reshapes each sample to `target_shape` (one entry may be -1).

    Args:
        target_shape: the shape of one output sample, without the batch dimension.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise TypeError(f"Reshape '{self.name}': target_shape must be a tuple of ints, got {target_shape!r}") from None
        if sum(d == -1 for d in target) > 1 or any(d == 0 or d < -1 for d in target):
            raise ValueError(f"Reshape '{self.name}': target_shape needs positive sizes and at most one -1, "
                             f"got {target}")
        self.target_shape = target

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 not in self.target_shape:
            if None not in rest and math.prod(rest) != math.prod(self.target_shape):
                raise self._error(f"cannot reshape samples of shape {tuple(rest)} to {self.target_shape}")
            return (input_shape[0],) + self.target_shape
        if None in rest:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        known = -math.prod(self.target_shape)
        size = math.prod(rest)
        if size % known:
            raise self._error(f"cannot reshape samples of shape {tuple(rest)} to {self.target_shape}")
        return (input_shape[0],) + tuple(size // known if d == -1 else d for d in self.target_shape)

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def forward(self, x, training=False):
        self._x_shape = x.shape
        try:
            return x.reshape((x.shape[0],) + self.target_shape)
        except ValueError:
            raise self._error(f"cannot reshape input of shape {x.shape} to (batch,) + {self.target_shape}") from None

    def backward(self, dy):
        return dy.reshape(self._x_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
