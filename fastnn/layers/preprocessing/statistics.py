"""Statistics that adapt() accumulates batch by batch: moments, quantiles and value counts.

Each merges batches in the order they come, with fixed arithmetic, so the same batches give the
same bits; none keeps more than a bounded amount of the data except the value counts, which keep
one entry per distinct value.
"""
import math

import numpy as np

__all__ = ["Moments", "QuantileSketch", "ValueCounts"]


class Moments:
    """Count, mean and sum of squared deviations (M2) per kept position, merged batch by batch with
    Chan et al.'s pairwise update in float64: within a batch two passes (mean, then deviations),
    across batches the exact merge of two partial results."""

    def __init__(self, shape):
        self.count = 0
        self.mean = np.zeros(shape)
        self.m2 = np.zeros(shape)

    def update(self, batch, axes):
        """Add the values of batch, reduced over `axes` (the rest are the kept positions)."""
        values = np.asarray(batch, np.float64)
        count = math.prod(values.shape[a] for a in axes)
        if count == 0:
            return
        mean = values.mean(axis=axes)
        m2 = np.square(values - np.expand_dims(mean, axes)).sum(axis=axes)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * count / total)
        self.count = total

    @property
    def variance(self):
        """The population variance (ddof=0), as Keras's Normalization adapts it."""
        return self.m2 / self.count


class QuantileSketch:
    """Quantiles of a stream of numbers: exact up to `capacity` values, a mergeable sketch beyond.

    Up to `capacity` values are kept as they are. Beyond, full buffers of `capacity` sorted values
    are compacted Munro-Paterson style: level l holds at most one buffer whose values each stand for
    2**l inputs; two buffers of a level merge into one of the next by keeping every other value of
    their sorted union (alternately the odd and the even ones). Each compaction at level l moves a
    rank by at most 2**l, so the rank error of any quantile is at most
    log2(n / capacity) * n / (2 * capacity) for n values.
    """

    def __init__(self, capacity):
        self.capacity = int(capacity)
        self.pending = []  # raw values (weight 1) not yet in a full buffer
        self.pending_size = 0
        self.levels = []  # per level: a sorted buffer or None
        self.compactions = 0

    @property
    def exact(self):
        """Whether every value is still kept (no compaction happened)."""
        return not any(level is not None for level in self.levels)

    def add(self, values):
        values = np.asarray(values, np.float64).reshape(-1)
        while values.size:
            room = self.capacity - self.pending_size
            self.pending.append(values[:room])
            self.pending_size += min(room, values.size)
            values = values[room:]
            if self.pending_size == self.capacity:
                buffer = np.sort(np.concatenate(self.pending))
                self.pending, self.pending_size = [], 0
                self._carry(buffer, 0)

    def _carry(self, buffer, level):
        while True:
            if level == len(self.levels):
                self.levels.append(None)
            held = self.levels[level]
            if held is None:
                self.levels[level] = buffer
                return
            self.levels[level] = None
            merged = np.sort(np.concatenate([held, buffer]), kind="stable")
            buffer = merged[self.compactions % 2::2]
            self.compactions += 1
            level += 1

    def summary(self):
        """(sorted values, weights) standing for every value added."""
        parts = [np.concatenate(self.pending)] if self.pending else []
        weights = [np.ones(self.pending_size)] if self.pending else []
        for level, buffer in enumerate(self.levels):
            if buffer is not None:
                parts.append(buffer)
                weights.append(np.full(buffer.size, float(2 ** level)))
        if not parts:
            return np.zeros(0), np.zeros(0)
        values, weights = np.concatenate(parts), np.concatenate(weights)
        order = np.argsort(values, kind="stable")
        return values[order], weights[order]

    def cumulative_quantiles(self, fractions):
        """The values where the cumulative share of the data reaches each fraction, interpolated
        linearly between the points (v_i, share of the values <= v_i), as Keras's Discretization
        places bin boundaries; NaN when no value was added."""
        values, weights = self.summary()
        if values.size == 0:
            return np.full(len(fractions), np.nan)
        shares = np.cumsum(weights) / weights.sum()
        return np.interp(fractions, shares, values)

    def median(self):
        """np.median of the values while exact; the sketch's middle value beyond."""
        if self.exact:
            values, _ = self.summary()
            return float(np.median(values)) if values.size else math.nan
        return float(self.cumulative_quantiles([0.5])[0])


class ValueCounts:
    """How often each distinct value occurs, kept as sorted unique values and their counts; each batch
    is merged with one np.unique over the union."""

    def __init__(self):
        self.values = None
        self.counts = np.zeros(0, np.int64)

    def update(self, values):
        values = np.asarray(values).reshape(-1)
        new_values, new_counts = np.unique(values, return_counts=True)
        if self.values is None:
            self.values, self.counts = new_values, new_counts
            return
        union, inverse = np.unique(np.concatenate([self.values, new_values]), return_inverse=True)
        self.counts = np.bincount(inverse, weights=np.concatenate([self.counts, new_counts]),
                                  minlength=union.size).astype(np.int64)
        self.values = union

    def by_frequency(self):
        """(values, counts) from the most to the least frequent, ties broken by the larger value
        first (Keras's vocabulary order)."""
        if self.values is None:
            return np.zeros(0), self.counts
        order = np.lexsort((self.values, self.counts))[::-1]
        return self.values[order], self.counts[order]
