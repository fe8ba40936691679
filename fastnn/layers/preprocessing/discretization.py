"""Discretization: numbers to the index of the bin they fall in."""
import math

import numpy as np

from ..base import register
from .base import PreprocessingLayer
from .encoding import ENCODED_MODES, check_output_mode, encode, encoded_shape
from .statistics import QuantileSketch

__all__ = ["Discretization"]


def sketch_capacity(epsilon):
    """Values a QuantileSketch keeps per buffer so that its rank error, log2(n / capacity) * n /
    (2 * capacity), stays below epsilon * n for n up to 2**40 * capacity: at least 2**16, and a power
    of two at least 20 / epsilon."""
    return max(1 << 16, 1 << math.ceil(math.log2(20.0 / epsilon)))


@register
class Discretization(PreprocessingLayer):
    """Buckets numbers by bin boundaries, as keras.layers.Discretization: bin i holds
    boundaries[i-1] <= x < boundaries[i] (np.digitize), so n boundaries make n + 1 bins; NaN falls in
    the last bin, as in Keras.

    adapt() places num_bins - 1 boundaries at the quantiles k / num_bins of the data, as Keras does
    (linear interpolation between the sorted values at their cumulative shares). The values are kept
    exactly up to sketch_capacity(epsilon) values (65536 for epsilon=0.01), so the boundaries are
    exact for data of that size (Keras's own sketch summarises beyond 1 / epsilon values); beyond,
    a QuantileSketch keeps the rank error below epsilon. The boundaries are float32 values kept in
    the config.

    Args:
        bin_boundaries: sorted list of finite boundaries, or None to adapt.
        num_bins: the number of bins adapt makes (give this or bin_boundaries; both describe an
            adapted layer, with len(bin_boundaries) == num_bins - 1).
        epsilon: the rank error adapt may make, as a share of the values (beyond the exact range).
        output_mode: 'int' (bin ids, int64), 'one_hot', 'multi_hot' or 'count' (float32).

    Input shape:
        float32 or int64. Output shape: as output_mode says.

    Example:
        >>> Discretization(bin_boundaries=[0.0, 1.0, 2.0])(np.array([[-1.5, 0.5, 2.0]]))
        array([[0, 1, 3]])
    """

    any_input_shape = True

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        what = f"Discretization '{self.name}'"
        if bin_boundaries is None and num_bins is None:
            raise ValueError(f"{what}: give bin_boundaries, or num_bins to adapt")
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer))
                                     or num_bins < 1):
            raise ValueError(f"{what}: num_bins must be a positive int, got {num_bins!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon < 1:
            raise ValueError(f"{what}: epsilon must be a number in (0, 1), got {epsilon!r}")
        if sparse:
            raise ValueError(f"{what}: sparse outputs are not supported")
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon = float(epsilon)
        self.output_mode = check_output_mode(output_mode, ("int",) + ENCODED_MODES, what)
        self._boundaries = None
        if bin_boundaries is not None:
            self._set_boundaries(bin_boundaries, what)

    def _set_boundaries(self, values, what):
        try:
            boundaries = np.asarray(values, np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise TypeError(f"{what}: bin_boundaries must be a list of numbers, got {values!r}") from None
        boundaries = boundaries.astype(np.float32)
        if not np.isfinite(boundaries).all() or (np.diff(boundaries) < 0).any():
            raise ValueError(f"{what}: bin_boundaries must be finite and sorted, got {list(values)!r}")
        if self.num_bins is not None and boundaries.size != self.num_bins - 1:
            raise ValueError(f"{what}: {boundaries.size} bin_boundaries do not make num_bins={self.num_bins} bins")
        self._boundaries = boundaries

    @property
    def bin_boundaries(self):
        """The boundaries in use (a list of floats), or None before adapt."""
        return None if self._boundaries is None else self._boundaries.tolist()

    def _depth(self):
        return self.num_bins if self.num_bins is not None else self._boundaries.size + 1

    def _accepts_dtype(self, dtype):
        return dtype in ("float32", "int64")

    def _output_dtype(self):
        return "int64" if self.output_mode == "int" else "float32"

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self.output_mode, self._depth(), f"Discretization '{self.name}'")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def forward(self, ctx, x):
        if self._boundaries is None:
            raise ValueError(f"Discretization '{self.name}' has no bin boundaries yet: adapt it first")
        bins = np.searchsorted(self._boundaries, x, side="right")
        return bins if self.output_mode == "int" else encode(ctx, bins, self.output_mode, self._depth())

    def backward(self, ctx, dy):
        raise ValueError(f"Discretization '{self.name}' has no gradient (its output is piecewise constant); it "
                         f"can read a model input or a frozen layer's output, not a trained layer's")

    # ----- adapt ----------------------------------------------------------------------------------
    def _adapt_begin(self, batch, what):
        if self.num_bins is None:
            raise ValueError(f"{what}: the layer was given bin_boundaries; construct it with num_bins to adapt")
        self._build_for(batch, what)
        self._sketch = QuantileSketch(sketch_capacity(self.epsilon))

    def _adapt_update(self, batch, what):
        values = np.asarray(batch, np.float64).reshape(-1)
        if np.isinf(values).any():
            raise ValueError(f"{what}: the data holds infinity, which no bin boundary can be")
        self._sketch.add(values[~np.isnan(values)])

    def _adapt_end(self, what):
        sketch, self._sketch = self._sketch, None
        fractions = np.arange(1, self.num_bins) / self.num_bins
        boundaries = sketch.cumulative_quantiles(fractions)
        if np.isnan(boundaries).any():
            raise ValueError(f"{what}: the data holds no number (only NaN)")
        self._boundaries = boundaries.astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.update(bin_boundaries=self.bin_boundaries, num_bins=self.num_bins, epsilon=self.epsilon,
                      output_mode=self.output_mode, sparse=False)
        return config
