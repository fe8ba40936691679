"""Reshaping layers: Flatten and Reshape, which change only how each sample's values are laid out, and
ZeroPadding1D/2D, Cropping1D/2D and UpSampling2D, which change its size."""
import math

from .. import _C
from ..ops._window import int_tuple
from ..ops.resizing import _interpolation, _margins
from .base import MAX_DIMENSION, MAX_SHAPE_RANK, Layer, check_data_format, register

__all__ = ["Flatten", "Reshape", "ZeroPadding1D", "Cropping1D", "ZeroPadding2D", "Cropping2D", "UpSampling2D"]


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


def _image_rank(layer, shape):
    if len(shape) != 4:
        raise layer._error(f"needs inputs (batch, height, width, channels), got shape {tuple(shape)}")


class _Margins(Layer):
    """ZeroPadding1D/2D and Cropping1D/2D: cells added at (or removed from) the edges of each sample's
    spatial axes (steps; or rows and columns)."""

    sign = 1  # +1 pads, -1 crops
    spatial = 2
    layout = "(batch, height, width, channels)"

    def __init__(self, margins, argument, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(self, data_format)
        self.data_format = "channels_last"
        self._margins = self._parse(margins, argument, f"{type(self).__name__} '{self.name}'")

    def _parse(self, margins, argument, what):
        return _margins(margins, argument, what)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.spatial + 2:
            raise self._error(f"needs inputs {self.layout}, got shape {tuple(input_shape)}")
        sizes = []
        for size, (before, after) in zip(input_shape[1:-1], self._margins):
            out = None if size is None else size + self.sign * (before + after)
            if out is not None and out < 1:
                raise self._error(f"crops {before + after} of {size} cells: nothing is left")
            sizes.append(out)
        return (input_shape[0], *sizes, input_shape[-1])

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def _inner(self, big):
        """The part of the larger array (padded output or uncropped input) that the smaller one is."""
        return big[(slice(None),) + tuple(slice(before, size - after)
                                          for size, (before, after) in zip(big.shape[1:], self._margins))]

    def _pad(self, ctx, name, small, big_shape):
        big = ctx.buffer(name, big_shape)
        big.fill(0.0)
        self._inner(big)[...] = small
        return big

    def _crop(self, ctx, name, big, small_shape):
        small = ctx.buffer(name, small_shape)
        small[...] = self._inner(big)
        return small

    def get_config(self):
        config = super().get_config()
        config.update({self.argument: [list(m) for m in self._margins], "data_format": self.data_format})
        return config


class _Margins1D(_Margins):
    """The sequence forms: one (before, after) pair of steps, as Keras's padding and cropping give it."""

    spatial = 1
    layout = "(batch, steps, features)"

    def _parse(self, margins, argument, what):
        return (int_tuple(margins, 2, argument, what, minimum=0),)

    def get_config(self):
        config = super().get_config()
        config[self.argument] = list(self._margins[0])
        return config


class _Padding(_Margins):
    def forward(self, ctx, x):
        ctx.x_shape = x.shape
        return self._pad(ctx, "y", x, self.compute_output_shape(x.shape))

    def backward(self, ctx, dy):
        return self._crop(ctx, "dx", dy, ctx.x_shape)


class _Cropping(_Margins):
    sign = -1

    def forward(self, ctx, x):
        ctx.x_shape = x.shape
        return self._crop(ctx, "y", x, self.compute_output_shape(x.shape))

    def backward(self, ctx, dy):
        return self._pad(ctx, "dx", dy, ctx.x_shape)


@register
class ZeroPadding2D(_Padding):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: an int (all sides), a (rows, columns) pair (each on both sides) or
            ((top, bottom), (left, right)).
        data_format: only 'channels_last' (or None).
    """

    argument = "padding"

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, "padding", data_format, **kwargs)
        self.padding = self._margins


@register
class Cropping2D(_Cropping):
    """Removes rows and columns at the edges of each image.

    Args:
        cropping: an int, a (rows, columns) pair or ((top, bottom), (left, right)).
        data_format: only 'channels_last' (or None).
    """

    argument = "cropping"

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, "cropping", data_format, **kwargs)
        self.cropping = self._margins


@register
class ZeroPadding1D(_Margins1D, _Padding):
    """Adds zero steps at both ends of each sequence.

    Args:
        padding: an int (both ends) or a (before, after) pair, each >= 0 (default 1).
        data_format: only 'channels_last' (or None).
    """

    argument = "padding"

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, "padding", data_format, **kwargs)
        self.padding = self._margins[0]


@register
class Cropping1D(_Margins1D, _Cropping):
    """Removes steps at both ends of each sequence.

    Args:
        cropping: an int (both ends) or a (before, after) pair, each >= 0 (default (1, 1)).
    """

    argument = "cropping"

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, "cropping", None, **kwargs)
        self.cropping = self._margins[0]

    def get_config(self):
        config = super().get_config()
        del config["data_format"]  # Keras's Cropping1D has none
        return config


@register
class UpSampling2D(Layer):
    """Repeats (nearest) or interpolates (bilinear, half-pixel centres as Keras) each image's rows and columns.

    Args:
        size: an int or a (rows, columns) pair of whole factors (default 2).
        data_format: only 'channels_last' (or None).
        interpolation: 'nearest' or 'bilinear'.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        what = f"UpSampling2D '{self.name}'"
        check_data_format(self, data_format)
        self.data_format = "channels_last"
        self.size = int_tuple(size, 2, "size", what)
        self.interpolation = _interpolation(interpolation, what)

    def compute_output_shape(self, input_shape):
        _image_rank(self, input_shape)
        rows, cols = (None if s is None else s * f for s, f in zip(input_shape[1:3], self.size))
        return (input_shape[0], rows, cols, input_shape[3])

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def forward(self, ctx, x):
        y = ctx.buffer("y", self.compute_output_shape(x.shape))
        if y.size:
            _C.upsample_forward(self.interpolation, x, y)
        ctx.x_shape = x.shape
        return y

    def backward(self, ctx, dy):
        dx = ctx.buffer("dx", ctx.x_shape)
        if dx.size:
            _C.upsample_backward(self.interpolation, dy, dx)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(size=list(self.size), data_format=self.data_format, interpolation=self.interpolation)
        return config
