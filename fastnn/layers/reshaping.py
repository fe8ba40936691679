"""Reshaping layers: Flatten and Reshape, which change only how each sample's values are laid out."""
import math

from .base import MAX_DIMENSION, MAX_SHAPE_RANK, Layer, register

__all__ = ["Flatten", "Reshape"]


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

    def forward(self, ctx, x):
        ctx.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, ctx, dy):
        return dy.reshape(ctx.x_shape)


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
        if len(target) > MAX_SHAPE_RANK:
            raise ValueError(f"Reshape '{self.name}': target_shape may have at most {MAX_SHAPE_RANK} dimensions, "
                             f"got {len(target)}")
        if sum(d == -1 for d in target) > 1 or any(d == 0 or d < -1 or d > MAX_DIMENSION for d in target):
            raise ValueError(f"Reshape '{self.name}': target_shape needs sizes in [1, {MAX_DIMENSION}] and at "
                             f"most one -1, got {target}")
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

    def forward(self, ctx, x):
        ctx.x_shape = x.shape
        try:
            return x.reshape((x.shape[0],) + self.target_shape)
        except ValueError:
            raise self._error(f"cannot reshape input of shape {x.shape} to (batch,) + {self.target_shape}") from None

    def backward(self, ctx, dy):
        return dy.reshape(ctx.x_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
