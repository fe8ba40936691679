"""The Activation layer: an activation function applied on its own, outside a Dense."""
import numpy as np

from .base import Layer, register

__all__ = ["Activation"]


@register
class Activation(Layer):
    """Applies an activation function elementwise (softmax: over the last axis).

    Args:
        activation: name or fastnn.activations.Activation.

    Input shape:
        any. Output shape: the same.
    """

    def __init__(self, activation, **kwargs):
        from .. import activations

        super().__init__(**kwargs)
        self.activation = activations.get(activation)
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
