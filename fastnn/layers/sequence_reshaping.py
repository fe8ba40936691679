"""Layers that move or repeat values without arithmetic on them: Permute, RepeatVector, UpSampling1D
and Identity (ZeroPadding1D and Cropping1D are beside their 2D forms in reshaping.py). Each backward is the
adjoint of its forward (a sum where values were repeated, in float64 in NumPy's fixed order)."""
import numpy as np

from ..ops._window import int_tuple
from .base import Layer, register

__all__ = ["Permute", "RepeatVector", "UpSampling1D", "Identity"]


@register
class Identity(Layer):
    """Returns its input unchanged (and its mask)."""

    supports_masking = True

    def forward(self, ctx, x):
        return x

    def backward(self, ctx, dy):
        return dy


@register
class Permute(Layer):
    """Permutes the axes of each sample.

    Args:
        dims: a permutation of 1..rank-1 (the batch axis is 0 and stays first), e.g. (2, 1) swaps the
            two axes of (batch, steps, features).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise TypeError(f"Permute '{self.name}': dims must be a tuple of ints, got {dims!r}") from None
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute '{self.name}': dims must be a permutation of 1..{len(dims)} (the batch "
                             f"axis, 0, is never moved), got {dims}")
        self.dims = dims
        self._inverse = tuple(int(i) for i in np.argsort((0,) + dims))

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise self._error(f"with dims {self.dims} needs inputs of rank {len(self.dims) + 1}, got shape "
                              f"{tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def forward(self, ctx, x):
        y = ctx.buffer("y", self.compute_output_shape(x.shape))
        y[...] = x.transpose((0,) + self.dims)
        return y

    def backward(self, ctx, dy):
        dx = ctx.buffer("dx", tuple(dy.shape[i] for i in self._inverse))
        dx[...] = dy.transpose(self._inverse)
        return dx

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


def _sequence_rank(layer, shape):
    if len(shape) != 3:
        raise layer._error(f"needs inputs (batch, steps, features), got shape {tuple(shape)}")


@register
class RepeatVector(Layer):
    """Repeats each input vector n times: (batch, features) -> (batch, n, features).

    Args:
        n: how many times, >= 1.
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int_tuple(n, 1, "n", f"RepeatVector '{self.name}'")[0]

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise self._error(f"needs inputs (batch, features), got shape {tuple(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def forward(self, ctx, x):
        y = ctx.buffer("y", self.compute_output_shape(x.shape))
        y[...] = x[:, None, :]
        return y

    def backward(self, ctx, dy):
        dx = ctx.buffer("dx", (dy.shape[0], dy.shape[2]))
        dx[...] = dy.sum(axis=1, dtype=np.float64)
        return dx

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


@register
class UpSampling1D(Layer):
    """Repeats each step `size` times: (batch, steps, features) -> (batch, steps * size, features).

    Args:
        size: the whole factor, >= 1 (default 2).
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int_tuple(size, 1, "size", f"UpSampling1D '{self.name}'")[0]

    def compute_output_shape(self, input_shape):
        _sequence_rank(self, input_shape)
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] * self.size, input_shape[2])

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def forward(self, ctx, x):
        y = ctx.buffer("y", self.compute_output_shape(x.shape))
        y.reshape(x.shape[0], x.shape[1], self.size, x.shape[2])[...] = x[:, :, None, :]
        return y

    def backward(self, ctx, dy):
        steps = dy.shape[1] // self.size
        dx = ctx.buffer("dx", (dy.shape[0], steps, dy.shape[2]))
        dx[...] = dy.reshape(dy.shape[0], steps, self.size, dy.shape[2]).sum(axis=2, dtype=np.float64)
        return dx

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config
