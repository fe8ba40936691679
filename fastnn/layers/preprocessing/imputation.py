"""Imputation: fills missing values (NaN) inside the model, so a deployed model takes raw rows with gaps."""
import math

import numpy as np

from ... import _C
from ..base import register
from .base import PreprocessingLayer
from .statistics import QuantileSketch, ValueCounts

__all__ = ["Imputation"]

STRATEGIES = ("mean", "median", "most_frequent", "constant")
# Values per feature that median keeps exactly before its sketch compacts them (QuantileSketch).
MEDIAN_CAPACITY = 1 << 16


@register
class Imputation(PreprocessingLayer):
    """Replaces NaN by a per-feature statistic learnt with adapt(), as scikit-learn's SimpleImputer.

    Not a Keras layer: it lets a model take rows with gaps. A model whose inputs are read only by
    Imputation layers accepts NaN in fit and evaluate (other models refuse it), and predict fills
    the gaps the same way.

    adapt() learns, per feature of the last axis and over the values that are not NaN:
    'mean' their mean (sums and counts in float64, batch by batch); 'median' np.median of them while there are
    at most 65536 per feature, beyond that the median of a QuantileSketch (rank error below
    log2(n / 65536) * n / 131072); 'most_frequent' the most frequent value (the smallest among
    ties, as scikit-learn), counted exactly (memory grows with the number of distinct values);
    'constant' needs no adapt and fills fill_value. A feature with no value in the data is an error.
    The statistics are a non-trainable weight ('statistics', one float32 per feature), saved with the
    model; until adapt they are NaN, so gaps stay gaps.

    The gradient passes through the values that were present and is 0 where a gap was filled.

    Args:
        strategy: 'mean', 'median', 'most_frequent' or 'constant'.
        fill_value: the value 'constant' fills (default 0).

    Input shape:
        (batch, ..., features), float32. Output shape: the same.

    Example:
        >>> imputer = Imputation(strategy="median")
        >>> imputer.adapt(x_train)  # x_train may hold NaN
        >>> model = fastnn.Sequential([fastnn.Input((30,)), imputer, Dense(1, activation="sigmoid")])
    """

    accepts_nan = True

    def __init__(self, strategy="mean", fill_value=None, **kwargs):
        super().__init__(**kwargs)
        if strategy not in STRATEGIES:
            raise ValueError(f"Imputation '{self.name}': strategy must be one of {', '.join(STRATEGIES)}, "
                             f"got {strategy!r}")
        if fill_value is not None and (isinstance(fill_value, bool) or not isinstance(fill_value, (int, float))
                                       or not math.isfinite(fill_value)):
            raise ValueError(f"Imputation '{self.name}': fill_value must be a finite number or None, "
                             f"got {fill_value!r}")
        if fill_value is not None and strategy != "constant":
            raise ValueError(f"Imputation '{self.name}': fill_value is for strategy='constant', got "
                             f"strategy={strategy!r}")
        self.strategy = strategy
        self.fill_value = fill_value

    def weight_shapes(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Imputation '{self.name}' needs inputs of rank >= 2 with a known last dimension "
                             f"(the features), got shape {tuple(input_shape)}")
        return [(int(input_shape[-1]),)]

    def build(self, input_shape):
        shape = self.weight_shapes(tuple(input_shape))[0]
        first = float(self.fill_value or 0.0) if self.strategy == "constant" else math.nan
        self.add_weight("statistics", shape, lambda s: np.full(s, first, np.float32), trainable=False)
        super().build(input_shape)

    @property
    def statistics(self):
        """The value each feature's gaps are filled with."""
        return self._weights[0]

    def forward(self, ctx, x):
        if ctx.training:
            ctx.x = x
        return _C.impute_forward(x, self._weights[0], 1, ctx.buffer("y", x.shape))

    def backward(self, ctx, dy):
        return _C.impute_backward(ctx.x, dy, ctx.buffer("dx", dy.shape))

    # ----- adapt ----------------------------------------------------------------------------------
    def _adapt_begin(self, batch, what):
        self._build_for(batch, what)
        features = self._weights[0].size
        if self.strategy == "mean":
            self._state = (np.zeros(features), np.zeros(features, np.int64))  # sums and counts of the values
        elif self.strategy == "median":
            self._state = [QuantileSketch(MEDIAN_CAPACITY) for _ in range(features)]
        elif self.strategy == "most_frequent":
            self._state = [ValueCounts() for _ in range(features)]
        else:
            self._state = None

    def _adapt_update(self, batch, what):
        if self._state is None:
            return
        columns = batch.reshape(-1, batch.shape[-1])
        if np.isinf(columns).any():
            raise ValueError(f"{what}: the data holds infinity; only NaN marks a missing value")
        if self.strategy == "mean":
            sums, counts = self._state
            sums += np.nansum(columns, axis=0, dtype=np.float64)
            counts += np.count_nonzero(~np.isnan(columns), axis=0)
            return
        for feature, state in enumerate(self._state):  # median and mode: each feature has its own count of values
            column = columns[:, feature]
            present = column[~np.isnan(column)]
            if self.strategy == "median":
                state.add(present)
            else:
                state.update(present)

    def _adapt_end(self, what):
        state, self._state = self._state, None
        if state is None:
            return
        if self.strategy == "mean":
            sums, counts = state
            with np.errstate(invalid="ignore", divide="ignore"):
                values = sums / counts
        else:
            values = np.array([self._statistic(s) for s in state])
        missing = np.flatnonzero(np.isnan(values))
        if missing.size:
            raise ValueError(f"{what}: feature {int(missing[0])} has no value in the data (all NaN), so there is "
                             f"nothing to fill it with; use strategy='constant' for it")
        self._weights[0][...] = values

    def _statistic(self, state):
        if self.strategy == "median":
            return state.median()
        values, counts = state.by_frequency()
        if counts.size == 0:
            return math.nan
        return float(values[counts == counts[0]].min())

    def get_config(self):
        config = super().get_config()
        config.update(strategy=self.strategy, fill_value=self.fill_value)
        return config
