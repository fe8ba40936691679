"""Masking: marks the timesteps of a sequence that count, for the layers after it."""
import numpy as np

from .base import Layer, register

__all__ = ["Masking"]


@register
class Masking(Layer):
    """Masks every timestep whose features all equal mask_value: those steps become 0, and layers that
    read masks (recurrent layers, GlobalAveragePooling1D, the losses) skip them.

    Args:
        mask_value: the value that marks padding.

    Input shape:
        (batch, steps, features). Output shape: the same.
    """

    supports_masking = True
    makes_mask = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, x, mask):
        return np.any(x != np.float32(self.mask_value), axis=-1)

    def forward(self, ctx, x):
        keep = self.compute_mask(x, None)
        ctx.keep = keep[..., None]
        return np.multiply(x, ctx.keep, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        return np.multiply(dy, ctx.keep, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
