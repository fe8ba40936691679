"""The Activation layer: an activation function applied on its own, outside a Dense."""
from .base import Layer, register

__all__ = ["Activation"]


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
