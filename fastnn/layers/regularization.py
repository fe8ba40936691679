"""Regularization layers: Dropout, SpatialDropout2D, GaussianNoise and GaussianDropout."""
import numpy as np

from .. import _config
from .base import Layer, check_data_format, normalize_shape, register

__all__ = ["Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"]


def _set_seed(layer, seed):
    """layer.seed, and a private generator when it is given (else draws come from fastnn's seeded one)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': seed must be a non-negative int or None, got "
                         f"{seed!r}")
    layer.seed = None if seed is None else int(seed)
    layer._rng = None if seed is None else np.random.default_rng(layer.seed)


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

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = (None if noise_shape is None
                            else normalize_shape(noise_shape, f"Dropout '{self.name}' noise_shape"))
        _set_seed(self, seed)
        self._scale = np.float32(1.0 / (1.0 - self.rate))
        self._rate32 = np.float32(self.rate)

    def _mask_shape(self, shape):
        """noise_shape with the input's sizes for its None entries; every other entry must be 1 or the input's
        size, so the mask is never larger than the input (unknown input sizes are checked at forward)."""
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape) or any(n not in (None, 1, s) for n, s in zip(self.noise_shape, shape)
                                                      if s is not None):
            raise self._error(f"noise_shape {self.noise_shape} does not broadcast to inputs of shape {shape}")
        return tuple(s if n is None else n for n, s in zip(self.noise_shape, shape))

    def build(self, input_shape):
        self._mask_shape(tuple(input_shape))
        super().build(input_shape)

    def forward(self, ctx, x):
        if not ctx.training or self.rate == 0.0:
            ctx.mask = None
            return x
        mask_shape = self._mask_shape(x.shape)
        uniform, mask = ctx.buffer("uniform", mask_shape), ctx.buffer("mask", mask_shape)
        (self._rng or _config.generator()).random(dtype=np.float32, out=uniform)
        np.greater_equal(uniform, self._rate32, out=mask)
        mask *= self._scale
        ctx.mask = mask
        return np.multiply(x, mask, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        if ctx.mask is None:
            return dy
        return np.multiply(dy, ctx.mask, out=ctx.buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=None if self.noise_shape is None else list(self.noise_shape),
                      seed=self.seed)
        return config


@register
class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: while training, each (image, channel) pair is zeroed with
    probability `rate` across all its pixels, and the rest scaled by 1/(1-rate).

    Args:
        rate: fraction to drop, in [0, 1).
        data_format: only 'channels_last' (or None).
        seed: optional int for a private generator.

    Input shape:
        (batch, height, width, channels). Output shape: the same.
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None, 1, 1, None), seed=seed, **kwargs)
        check_data_format(self, data_format)
        self.data_format = "channels_last"

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise self._error(f"needs inputs (batch, height, width, channels), got shape {tuple(input_shape)}")
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        config["data_format"] = self.data_format
        return config


class _GaussianLayer(Layer):
    """A layer that draws standard normal noise while training and is the identity at inference."""

    supports_masking = True
    argument = None

    def __init__(self, value, seed, one_allowed, **kwargs):
        super().__init__(**kwargs)
        what = f"{type(self).__name__} '{self.name}': {self.argument}"
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"{what} must be a number, got {value!r}")
        if not 0 <= value <= 1 or value == 1 and not one_allowed:
            raise ValueError(f"{what} must be in [0, 1{']' if one_allowed else ')'}, got {value!r}")
        setattr(self, self.argument, float(value))
        _set_seed(self, seed)

    def _noise(self, ctx, shape):
        noise = ctx.buffer("noise", shape)
        (self._rng or _config.generator()).standard_normal(dtype=np.float32, out=noise)
        return noise

    def get_config(self):
        config = super().get_config()
        config.update({self.argument: getattr(self, self.argument), "seed": self.seed})
        return config


@register
class GaussianNoise(_GaussianLayer):
    """While training, adds zero-mean normal noise of standard deviation `stddev`.

    Args:
        stddev: in [0, 1] (Keras's range).
        seed: optional int for a private generator; otherwise draws come from fastnn's seeded generator.

    Input shape:
        any. Output shape: the same. At inference the layer is the identity.
    """

    argument = "stddev"

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(stddev, seed, True, **kwargs)

    def forward(self, ctx, x):
        if not ctx.training or self.stddev == 0.0:
            return x
        noise = self._noise(ctx, x.shape)
        noise *= np.float32(self.stddev)
        return np.add(x, noise, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        return dy


@register
class GaussianDropout(_GaussianLayer):
    """While training, multiplies by normal noise of mean 1 and standard deviation sqrt(rate / (1 - rate)).

    Args:
        rate: in [0, 1).
        seed: optional int for a private generator; otherwise draws come from fastnn's seeded generator.

    Input shape:
        any. Output shape: the same. At inference the layer is the identity.
    """

    argument = "rate"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed, False, **kwargs)  # rate 1 would need an infinite deviation

    def forward(self, ctx, x):
        if not ctx.training or self.rate == 0.0:
            ctx.noise = None
            return x
        noise = self._noise(ctx, x.shape)
        noise *= np.float32(np.sqrt(self.rate / (1.0 - self.rate)))
        noise += np.float32(1.0)
        ctx.noise = noise
        return np.multiply(x, noise, out=ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        if ctx.noise is None:
            return dy
        return np.multiply(dy, ctx.noise, out=ctx.buffer("dx", dy.shape))
