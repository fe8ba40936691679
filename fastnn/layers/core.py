"""Core layers: InputLayer (and fastnn.Input) and Dense."""
import math

import numpy as np

from .. import _C
from ..engine.tensor import Node, canonical_dtype
from .base import Layer, deserialize_object, normalize_shape, register, serialize_object
from .fused_activation import activation_plan

__all__ = ["InputLayer", "Input", "Dense", "KernelAndBias"]


@register
class InputLayer(Layer):
    """Declares the shape and dtype of a model input; its `output` is the KerasTensor fastnn.Input returns.

    Args:
        shape: shape of one sample, without the batch dimension, e.g. (8,).
        batch_size: optional fixed batch size (kept for the config only).
        dtype: 'float32' (default), 'int32'/'int64' (token ids) or 'string'.
        batch_shape: alternative to shape + batch_size: the full shape, batch first.
        name: optional name.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, sparse=False,
                 ragged=False, optional=False, **kwargs):
        if (shape is None) == (batch_shape is None):
            raise ValueError("InputLayer: give exactly one of shape= or batch_shape=")
        if sparse or ragged or optional:
            raise ValueError("InputLayer: sparse, ragged and optional inputs are not supported")
        super().__init__(name=name or None, **kwargs)
        self.input_dtype = canonical_dtype(dtype, f"InputLayer '{self.name}'")
        if batch_shape is not None:
            batch_shape = normalize_shape(batch_shape, "InputLayer batch_shape")
            if not batch_shape:
                raise ValueError("InputLayer: batch_shape needs at least the batch dimension")
        else:
            batch_shape = (batch_size,) + normalize_shape(shape, "InputLayer shape")
        self.batch_shape = batch_shape
        self.build(batch_shape)
        # its call makes the tensor fastnn.Input returns (self.output); a declared batch size stays in the
        # symbolic shapes, as in Keras (stateful RNNs size their states by it)
        Node(self, [], [batch_shape], [self.input_dtype], False).outputs[0].name = self.name

    def forward(self, ctx, x):
        return x

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.input_dtype, "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """A symbolic model input (a KerasTensor), as keras.Input: call layers on it, then build a
    fastnn.Model(inputs, outputs), or put it first in a Sequential model.

    Args:
        shape: shape of one sample, without the batch dimension, e.g. (8,).
        batch_size: optional fixed batch size.
        dtype: 'float32' (default), 'int32'/'int64' (token ids) or 'string' (raw text).
        batch_shape: alternative to shape + batch_size: the full shape, batch first.
        name: optional name (model inputs given as a dict are matched by it).

    Example:
        >>> x = fastnn.Input(shape=(8,))
        >>> y = fastnn.layers.Dense(1, activation="sigmoid")(x)
        >>> model = fastnn.Model(x, y)
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name).output


class KernelAndBias:
    """Mixin of layers whose weights are Keras's kernel, then (with use_bias) bias: Dense and the
    convolutions. The layer sets kernel_initializer/regularizer and bias_initializer/regularizer."""

    def _add_kernel_and_bias(self, shapes):
        self.add_weight("kernel", shapes[0], _initializer_fn(self.kernel_initializer), self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", shapes[1], _initializer_fn(self.bias_initializer), self.bias_regularizer)
        self._weights_bound()

    def _weights_bound(self):
        self.kernel = self._weights[0]
        self.bias = self._weights[1] if self.use_bias else None


def as_rows(layer, x):
    """A dense-like layer's input as (rows, input_dim) and its original shape (leading axes are rows)."""
    if x.ndim < 2 or x.shape[-1] != layer.input_dim:
        raise layer._error(f"expected input with last dimension {layer.input_dim}, got shape {x.shape}")
    return (x if x.ndim == 2 else x.reshape(-1, layer.input_dim)), x.shape


def restore_rows(y, in_shape):
    """The (rows, units) output shaped as the input's leading axes, as as_rows flattened them."""
    return y if len(in_shape) == 2 else y.reshape(in_shape[:-1] + (y.shape[-1],))


@register
class Dense(KernelAndBias, Layer):
    """Fully connected layer: activation(x @ kernel + bias), on the last axis of x.

    The bias and any elementwise activation run in the GEMM's epilogue while each tile of the output is
    still in cache. The compile pass may hand the layer another activation (an Activation layer after
    it) or none (when the loss takes the logits); forward applies ctx.activation.

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

    supports_masking = True

    fuses_activation = True

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
        self.kernel = self.bias = None

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
        self._add_kernel_and_bias(shapes)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, ctx, x):
        x, in_shape = as_rows(self, x)
        code, alpha, separate = activation_plan(ctx)
        y = ctx.buffer("y", (x.shape[0], self.units))
        if separate is None:
            _C.sgemm(x, self.kernel, y, False, False, False, self.bias, code, alpha)
            z = None
        else:
            z = ctx.buffer("z", y.shape)
            _C.sgemm(x, self.kernel, z, False, False, False, self.bias, 0, 0.0)
            separate.forward(z, out=y)
        if ctx.training:
            ctx.x, ctx.y, ctx.z, ctx.input_shape = x, y, z, in_shape
        return restore_rows(y, in_shape)

    def backward(self, ctx, dy):
        x, y = ctx.x, ctx.y
        dy = dy.reshape(y.shape)
        code, alpha, separate = ctx.activation_plan
        if separate is not None:
            dy = separate.backward(ctx.z, y, dy, out=ctx.buffer("dz", y.shape))
        dk, db = self._grads[0], self._grads[1] if self.use_bias else None
        if ctx.accumulate:
            dk = None if dk is None else ctx.buffer("dkernel", dk.shape)
            db = None if db is None else ctx.buffer("dbias", db.shape)
        dx = ctx.buffer("dx", x.shape) if ctx.need_dx else None
        _C.dense_backward(x, self.kernel, y, dy, ctx.buffer("dz", y.shape) if code else None, code, dk, db, dx,
                          alpha)
        if ctx.accumulate:
            if dk is not None:
                self._grads[0] += dk
            if db is not None:
                self._grads[1] += db
        if dx is None:
            return None
        return dx if len(ctx.input_shape) == 2 else dx.reshape(ctx.input_shape)

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
