"""Pooling layers: max and average pooling over windows (1-D and 2-D) and over whole images or
sequences (global), channels last, on the pooling kernels of fastnn.ops.pooling."""
import numpy as np

from .. import _C
from ..ops._window import int_tuple, padding_mode, window_axis
from ..ops.pooling import _window
from .base import Layer, check_data_format, register

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D"]


def _check_rank(layer, shape):
    if len(shape) != layer.rank + 2:
        layout = "(batch, steps, channels)" if layer.rank == 1 else "(batch, height, width, channels)"
        raise layer._error(f"needs inputs {layout}, got shape {tuple(shape)}")


class Pooling(Layer):
    """Windowed pooling: `kind` ('max' or 'avg') over pool_size windows moved by strides."""

    rank = 2
    kind = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        check_data_format(self, data_format)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", what)
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides", what)
        self.padding = padding_mode(padding, what)
        self.data_format = "channels_last"
        self._what = what

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        names = ("steps",) if self.rank == 1 else ("rows", "columns")
        spatial = tuple(None if size is None else
                        window_axis(size, self.pool_size[a], self.strides[a], self.padding, self._what, names[a])[0]
                        for a, size in enumerate(input_shape[1:-1]))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def _as_image(self, a):
        return a[:, None] if self.rank == 1 else a

    def forward(self, ctx, x):
        _check_rank(self, x.shape)
        cached = getattr(ctx, "window", None)
        if cached is None or cached[0] != x.shape[1:-1]:
            x_shape = self._as_image(x).shape
            out_hw, window = _window(x_shape, self.pool_size, self.strides, self.padding, self.rank, self._what)
            cached = ctx.window = (x.shape[1:-1], out_hw[2 - self.rank:], window)
        y = ctx.buffer("y", (x.shape[0],) + cached[1] + (x.shape[-1],))
        _C.pool2d_forward(self.kind, self._as_image(x), self._as_image(y), cached[2])
        if ctx.training:
            ctx.x, ctx.y = x, y
        return y

    def backward(self, ctx, dy):
        x = ctx.x
        dx = ctx.buffer("dx", x.shape)
        _C.pool2d_backward(self.kind, self._as_image(x), self._as_image(ctx.y) if self.kind == "max" else None,
                           self._as_image(dy), self._as_image(dx), ctx.window[2])
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), padding=self.padding, strides=list(self.strides),
                      data_format=self.data_format)
        return config


@register
class MaxPooling2D(Pooling):
    """Max pooling of (batch, height, width, channels) images.

    Args:
        pool_size: an int or a (rows, columns) pair (default 2).
        strides: an int or a pair; None (default) is pool_size.
        padding: 'valid' or 'same'.
        data_format: only 'channels_last' (or None).

    Output shape:
        (batch, out_height, out_width, channels). A window holding NaN pools to NaN.
    """


@register
class MaxPooling1D(Pooling):
    """Max pooling of (batch, steps, channels) sequences; arguments as MaxPooling2D's, with ints."""

    rank = 1


@register
class AveragePooling2D(Pooling):
    """Average pooling of images; with padding='same' a window's mean is over its cells inside the
    image (the padded cells do not count), as Keras. Arguments as MaxPooling2D's."""

    kind = "avg"


@register
class AveragePooling1D(Pooling):
    """Average pooling of (batch, steps, channels) sequences; arguments as MaxPooling1D's."""

    rank = 1
    kind = "avg"


class GlobalPooling(Layer):
    """`kind` pooling over every step or pixel of each sample: (batch, channels), or with keepdims
    (batch, 1, [1,] channels)."""

    rank = 2
    kind = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_data_format(self, data_format)
        self.data_format = "channels_last"
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        return (input_shape[0],) + (1,) * self.rank * self.keepdims + (input_shape[-1],)

    def build(self, input_shape):
        self.compute_output_shape(tuple(input_shape))
        super().build(input_shape)

    def compute_mask(self, x, mask):
        return None

    def forward(self, ctx, x):
        _check_rank(self, x.shape)
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        y = ctx.buffer("y", (x.shape[0], x.shape[-1]))
        _C.global_pool_forward(self.kind, flat, y)
        if ctx.training:
            ctx.x, ctx.y = x, y
        return y.reshape(self.compute_output_shape(x.shape))

    def backward(self, ctx, dy):
        x = ctx.x
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        dx = ctx.buffer("dx", x.shape)
        _C.global_pool_backward(self.kind, flat, ctx.y if self.kind == "max" else None,
                                dy.reshape(ctx.y.shape), dx.reshape(flat.shape))
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


@register
class GlobalMaxPooling2D(GlobalPooling):
    """The maximum of each channel over an image's pixels.

    Args:
        data_format: only 'channels_last' (or None).
        keepdims: keep the spatial axes as size 1: (batch, 1, 1, channels).
    """


@register
class GlobalAveragePooling2D(GlobalPooling):
    """The mean of each channel over an image's pixels (arguments as GlobalMaxPooling2D's)."""

    kind = "avg"


@register
class GlobalMaxPooling1D(GlobalPooling):
    """The maximum of each channel over a sequence's steps (arguments as GlobalMaxPooling2D's)."""

    rank = 1


@register
class GlobalAveragePooling1D(GlobalPooling):
    """The mean of each channel over a sequence's steps. With a mask (Embedding(mask_zero=True),
    Masking, ...) it averages only the unmasked steps, as Keras (a sample with every step masked
    gives 0 / 0 = NaN, as Keras); the output has no mask."""

    rank = 1
    kind = "avg"
    supports_masking = True

    def forward(self, ctx, x):
        mask = getattr(ctx, "mask", None)
        if mask is None:
            ctx.weights = None
            return super().forward(ctx, x)
        _check_rank(self, x.shape)
        weights = ctx.buffer("weights", x.shape[:2])
        np.copyto(weights, mask, casting="unsafe")
        counts = weights.sum(axis=1, dtype=np.float64)
        sums = np.einsum("nsc,ns->nc", x, weights, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(sums, counts[:, None], out=sums)
        ctx.weights, ctx.counts = weights, counts
        y = ctx.buffer("y", (x.shape[0], x.shape[-1]))
        np.copyto(y, sums, casting="same_kind")
        return y.reshape(self.compute_output_shape(x.shape))

    def backward(self, ctx, dy):
        if ctx.weights is None:
            return super().backward(ctx, dy)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = (ctx.weights / ctx.counts[:, None]).astype(np.float32)
        dx = ctx.buffer("dx", ctx.weights.shape + (dy.shape[-1],))
        np.multiply(dy.reshape(dx.shape[0], 1, dx.shape[2]), scale[:, :, None], out=dx)
        return dx
