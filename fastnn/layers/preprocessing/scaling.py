"""Normalization and Rescaling: per-feature affine maps, each one call of a C kernel per batch."""
import math

import numpy as np

from ... import _C
from ..base import register
from .base import PreprocessingLayer
from .statistics import Moments

__all__ = ["Normalization", "Rescaling"]

# Keras's backend.epsilon(): the smallest standard deviation Normalization divides by.
EPSILON = 1e-7


def _float_values(value, what):
    """A number or nested list of numbers as a finite float32 array (None stays None)."""
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number or a list of numbers, got {value!r}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return array.astype(np.float32)


def _config_value(array):
    return None if array is None else array.tolist()


@register
class Normalization(PreprocessingLayer):
    """Shifts and scales inputs to zero mean and unit variance per feature, as keras.layers.Normalization:
    (x - mean) / max(sqrt(variance), 1e-7), or with invert=True x * max(sqrt(variance), 1e-7) + mean.

    The mean and variance come from the arguments, or from data with adapt(): the population variance
    (ddof=0) over every axis not in `axis`, accumulated in float64 batch by batch (Chan's pairwise
    merge), stored as float32. Adapted statistics are non-trainable weights ('mean', 'variance' and
    'count', the number of samples seen, in Keras's weight order), so they are saved with the model;
    statistics given as arguments live in the config.

    Args:
        axis: the axis or axes that keep their own statistics (default -1: one per feature of the last
            axis); None for one mean and variance over everything.
        mean, variance: the statistics, broadcastable to the kept axes; give both or neither.
        invert: apply the inverse map (undo a normalization, e.g. of a regression target).

    Input shape:
        (batch, ...), float32, with known sizes on the kept axes. Output shape: the same.

    Example:
        >>> norm = Normalization()
        >>> norm.adapt(x_train)
        >>> model = fastnn.Sequential([fastnn.Input((64,)), norm, Dense(10, activation="softmax")])
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        else:
            axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
            try:
                self.axis = tuple(int(a) for a in axes)
            except (TypeError, ValueError):
                raise TypeError(f"Normalization '{self.name}': axis must be an int, a tuple of ints or None, "
                                f"got {axis!r}") from None
            if isinstance(axis, bool) or len(set(self.axis)) != len(self.axis):
                raise ValueError(f"Normalization '{self.name}': invalid axis {axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization '{self.name}': give both mean and variance, or neither (and adapt)")
        self.input_mean = _float_values(mean, f"Normalization '{self.name}': mean")
        self.input_variance = _float_values(variance, f"Normalization '{self.name}': variance")
        if self.input_variance is not None and (self.input_variance < 0).any():
            raise ValueError(f"Normalization '{self.name}': variance must not be negative")
        self.invert = bool(invert)

    # ----- shapes ---------------------------------------------------------------------------------
    def _kept_axes(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Normalization '{self.name}': axis {self.axis} is out of range for inputs of "
                             f"shape {tuple(input_shape)}")
        kept = sorted(a % ndim for a in self.axis)
        if 0 in kept:
            raise ValueError(f"Normalization '{self.name}': the batch axis cannot keep its own statistics")
        if any(input_shape[a] is None for a in kept):
            raise ValueError(f"Normalization '{self.name}': the kept axes {self.axis} need known sizes, got "
                             f"inputs of shape {tuple(input_shape)}")
        return kept

    def weight_shapes(self, input_shape):
        if self.input_mean is not None:
            return []
        shape = tuple(int(input_shape[a]) for a in self._kept_axes(tuple(input_shape)))
        return [shape, shape, ()]

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        kept = self._kept_axes(input_shape)
        self._reduced = tuple(a for a in range(len(input_shape)) if a not in kept)
        kept_shape = tuple(int(input_shape[a]) for a in kept)
        # The kernel sees x as (outer, span, inner), the span running from the first kept axis to the
        # last; statistics of kept axes that are not contiguous are spread over the span at each call.
        # With no kept axis each sample is one block of one statistic.
        ndim = len(input_shape)
        self._span = (kept[0], kept[-1] + 1) if kept else (1, 1)
        self._contiguous = kept == list(range(*self._span))
        self._spread_shape = tuple(int(input_shape[a]) if a in kept else 1 for a in range(*self._span))
        self._inner_axes = tuple(range(self._span[1], ndim))
        if self.input_mean is None:
            self.add_weight("mean", kept_shape, np.zeros, trainable=False)
            self.add_weight("variance", kept_shape, np.ones, trainable=False)
            self.add_weight("count", (), np.zeros, trainable=False)
        else:
            self._given = tuple(self._broadcast_given(v, kept_shape) for v in (self.input_mean, self.input_variance))
        super().build(input_shape)

    def _broadcast_given(self, value, kept_shape):
        """A given statistic aligned with the kept axes from the right, as Keras aligns it."""
        try:
            return np.ascontiguousarray(np.broadcast_to(value, kept_shape), dtype=np.float32)
        except ValueError:
            raise ValueError(f"Normalization '{self.name}': mean and variance of shape {value.shape} do not "
                             f"broadcast to the kept axes' shape {kept_shape}") from None

    @property
    def mean(self):
        """The mean in use (adapted or given), shaped as the kept axes."""
        return self._given[0] if self.input_mean is not None else self._weights[0]

    @property
    def variance(self):
        return self._given[1] if self.input_mean is not None else self._weights[1]

    def _kernel_stats(self, x):
        """(mean, variance, inner) for the kernel's (outer, span, inner) view of x."""
        stats = self._given if self.input_mean is not None else self._weights
        inner = 1
        for a in self._inner_axes:
            inner *= x.shape[a]
        if self._contiguous:
            return stats[0], stats[1], inner
        span = x.shape[self._span[0]:self._span[1]]
        mean, variance = (np.ascontiguousarray(np.broadcast_to(s.reshape(self._spread_shape), span))
                          for s in stats[:2])
        return mean, variance, inner

    # ----- forward and backward -------------------------------------------------------------------
    def forward(self, ctx, x):
        mean, variance, inner = self._kernel_stats(x)
        return _C.normalize_forward(x, mean, variance, inner, EPSILON, self.invert, ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        _, variance, inner = self._kernel_stats(dy)
        return _C.normalize_backward(dy, variance, inner, EPSILON, self.invert, ctx.buffer("dx", dy.shape))

    # ----- adapt ----------------------------------------------------------------------------------
    def _adapt_begin(self, batch, what):
        if self.input_mean is not None:
            raise ValueError(f"{what}: the layer was given mean and variance, so it has nothing to adapt")
        self._build_for(batch, what)
        self._moments = Moments(self._weights[0].shape)

    def _adapt_update(self, batch, what):
        self._moments.update(batch, self._reduced)
        if not np.isfinite(self._moments.mean).all() or not np.isfinite(self._moments.m2).all():
            raise ValueError(f"{what}: the data holds NaN or infinity; fill the gaps first (an Imputation "
                             f"layer adapted before this one) or clean the data")

    def _adapt_end(self, what):
        moments, self._moments = self._moments, None
        if moments.count == 0:
            raise ValueError(f"{what}: the data holds no samples")
        self._weights[0][...] = moments.mean
        self._weights[1][...] = moments.variance
        self._weights[2][...] = moments.count

    def get_config(self):
        config = super().get_config()
        config.update(axis=list(self.axis) if self.axis else None, mean=_config_value(self.input_mean),
                      variance=_config_value(self.input_variance), invert=self.invert)
        return config


@register
class Rescaling(PreprocessingLayer):
    """Multiplies by `scale` and adds `offset`: x * scale + offset, as keras.layers.Rescaling (e.g.
    scale=1/255 maps pixels to [0, 1]; scale=1/127.5, offset=-1 to [-1, 1]).

    Args:
        scale: a number, or a list with one value per feature of the last axis.
        offset: the same kinds as scale.

    Input shape:
        (batch, ...), float32. Output shape: the same.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _float_values(scale, f"Rescaling '{self.name}': scale")
        self.offset = _float_values(offset, f"Rescaling '{self.name}': offset")
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            if value.ndim > 1:
                raise ValueError(f"Rescaling '{self.name}': {name} must be a number or a 1-D list, got shape "
                                 f"{value.shape}")
        size = max(self.scale.size, self.offset.size)
        if {self.scale.size, self.offset.size} - {1, size}:
            raise ValueError(f"Rescaling '{self.name}': scale and offset have {self.scale.size} and "
                             f"{self.offset.size} values")
        self._per_feature = size > 1 or self.scale.ndim == 1 or self.offset.ndim == 1
        self._scale = np.ascontiguousarray(np.broadcast_to(self.scale, (size,)))
        self._offset = np.ascontiguousarray(np.broadcast_to(self.offset, (size,)))

    def build(self, input_shape):
        size = self._scale.size
        if self._per_feature and size > 1 and input_shape[-1] != size:
            raise ValueError(f"Rescaling '{self.name}': {size} scale/offset values do not match inputs of shape "
                             f"{tuple(input_shape)}")
        super().build(input_shape)

    def _inner(self, x):
        # one value for all: each row is one block; per feature: the last axis
        return 1 if self._scale.size > 1 else (math.prod(x.shape[1:]) if x.ndim > 1 else 1)

    def forward(self, ctx, x):
        return _C.rescale_forward(x, self._scale, self._offset, self._inner(x), ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        return _C.rescale_backward(dy, self._scale, self._inner(dy), ctx.buffer("dx", dy.shape))

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale.tolist(), offset=self.offset.tolist())
        return config
