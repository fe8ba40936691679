"""Core layers: Input and Dense.

Every layer keeps its forward outputs and backward results in buffers it allocates once per input
shape and reuses, so a training step makes no temporary arrays.
"""
import math

import numpy as np

from .. import ops
from .base import Layer, deserialize_object, normalize_shape, register, serialize_object

__all__ = ["InputLayer", "Input", "Dense"]


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
        from .. import activations, initializers, regularizers

        self.units = int(units)
        self.activation = activations.get(activation)
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
