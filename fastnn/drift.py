"""Input drift: reference statistics of training inputs, and per-feature KS and PSI against a window.

``model.save(path, reference_data=x)`` stores :class:`ReferenceStatistics` of ``x`` in the .fnn file, and a
server (fastnn.serve) compares a window of recent inputs with them. Every input is flattened to features
(an input of shape (batch, 4, 2) gives 8); each feature is summarised by one of two kinds:

- categorical: integer-valued with at most ``MAX_CATEGORIES`` distinct values; its categories and their
  frequencies (the exact reference distribution);
- numeric: the 101 quantiles at 0 %, 1 %, ..., 100 % (the reference CDF, interpolated between them),
  and the frequencies of the reference in its decile bins.

Two tests per feature, with the defaults of Evidently and alibi-detect:

- ``ks``: the two-sample Kolmogorov-Smirnov statistic against the reference CDF, its p-value from the
  asymptotic Kolmogorov distribution with the reference and window sizes; drift when p < 0.05;
- ``psi``: the population stability index over the decile bins (categories for a categorical feature,
  plus one bin for values the reference never had), frequencies floored at 1e-4; drift when PSI > 0.1.

The statistics are plain numbers in model.json; :meth:`ReferenceStatistics.from_dict` checks every one of
them (kinds, lengths, order, finiteness) and raises ModelFileError for anything else.
"""
import math

import numpy as np

from ._strictread import ModelFileError, is_int

__all__ = ["ReferenceStatistics", "FeatureDrift", "KS_P_VALUE", "PSI_THRESHOLD", "MAX_CATEGORIES"]

KS_P_VALUE = 0.05
PSI_THRESHOLD = 0.1
MAX_CATEGORIES = 20
QUANTILES = 101
PSI_FLOOR = 1e-4
MAX_FEATURES = 100_000
_DECILES = np.linspace(0.1, 0.9, 9)


def _is_number(value):
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


class FeatureDrift:
    """Drift of one feature: the KS p-value and PSI, and whether each crosses its threshold."""
    __slots__ = ("ks_p_value", "psi")

    def __init__(self, ks_p_value, psi):
        self.ks_p_value = ks_p_value
        self.psi = psi

    @property
    def ks_drift(self):
        return self.ks_p_value < KS_P_VALUE

    @property
    def psi_drift(self):
        return self.psi > PSI_THRESHOLD


# ------------------------------------------------------------------------------------ one feature

class _Numeric:
    kind = "numeric"

    def __init__(self, quantiles, edges, frequencies):
        self.quantiles, self.edges, self.frequencies = quantiles, edges, frequencies

    @classmethod
    def of(cls, column):
        edges = np.unique(np.quantile(column, _DECILES))
        counts = np.bincount(np.searchsorted(edges, column, "right"), minlength=len(edges) + 1)
        return cls(np.quantile(column, np.linspace(0.0, 1.0, QUANTILES)), edges, counts / len(column))

    def cdf(self, x, side):
        """The reference CDF at x, right-continuous (side "right") or its left limit (side "left"),
        linear between neighbouring distinct quantiles."""
        q = self.quantiles
        i = np.searchsorted(q, x, side)
        lo = np.clip(i - 1, 0, QUANTILES - 2)
        span = q[lo + 1] - q[lo]
        within = np.divide(x - q[lo], span, out=np.zeros_like(x), where=span > 0)
        value = (lo + np.clip(within, 0.0, 1.0)) / (QUANTILES - 1)
        return np.where(i == 0, 0.0, np.where(i == QUANTILES, 1.0, value))

    def knots(self):
        return self.quantiles

    def bin_of(self, x):
        return np.searchsorted(self.edges, x, "right")

    def to_dict(self):
        return {"kind": self.kind, "quantiles": self.quantiles.tolist(), "edges": self.edges.tolist(),
                "frequencies": self.frequencies.tolist()}


class _Categorical:
    kind = "categorical"

    def __init__(self, categories, frequencies):
        self.categories, self.frequencies = categories, frequencies
        self.cumulative = np.concatenate([[0.0], np.cumsum(frequencies)])

    @classmethod
    def of(cls, column, categories):
        counts = np.bincount(np.searchsorted(categories, column), minlength=len(categories))
        return cls(categories, counts / len(column))

    def cdf(self, x, side):
        return self.cumulative[np.searchsorted(self.categories, x, side)]

    def knots(self):
        return self.categories

    def bin_of(self, x):
        """Index of x's category, or len(categories) for a value the reference never had."""
        i = np.minimum(np.searchsorted(self.categories, x), len(self.categories) - 1)
        return np.where(self.categories[i] == x, i, len(self.categories))

    def to_dict(self):
        return {"kind": self.kind, "categories": self.categories.tolist(), "frequencies": self.frequencies.tolist()}


def _summarise(column):
    categories = np.unique(column)
    if len(categories) <= MAX_CATEGORIES and np.all(categories == np.round(categories)):
        return _Categorical.of(column, categories)
    return _Numeric.of(column)


def _ks_p_value(d, n, m):
    """P(D >= d) for two samples of sizes n and m, from the asymptotic Kolmogorov distribution with
    Stephens's small-sample correction."""
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 0.2:
        return 1.0
    k = np.arange(1, 101)
    terms = 2.0 * (-1.0) ** (k - 1) * np.exp(-2.0 * k * k * lam * lam)
    return float(min(1.0, max(0.0, terms.sum())))


def _feature_drift(summary, values, n_reference):
    x = np.sort(values.astype(np.float64))
    m = len(x)
    points = np.concatenate([x, summary.knots()])
    d = 0.0
    for side in ("left", "right"):
        window_cdf = np.searchsorted(x, points, side) / m
        d = max(d, float(np.max(np.abs(summary.cdf(points, side) - window_cdf))))
    expected = np.maximum(np.append(summary.frequencies, 0.0), PSI_FLOOR)
    actual = np.maximum(np.bincount(summary.bin_of(x), minlength=len(expected)) / m, PSI_FLOOR)
    psi = float(np.sum((actual - expected) * np.log(actual / expected)))
    return FeatureDrift(_ks_p_value(d, n_reference, m), psi)


# ------------------------------------------------------------------------------------ all features

class ReferenceStatistics:
    """Per-feature reference distributions of a model's inputs (see the module docstring).

    Args:
        rows: how many reference rows were summarised.
        features: one summary per flattened input feature, in input order.
    """

    def __init__(self, rows, features):
        self.rows = rows
        self.features = features

    @classmethod
    def of(cls, arrays):
        """Summarise reference inputs: a list of arrays (one per model input), batch first, equal rows."""
        matrix = flatten_inputs(arrays, "reference_data")
        if len(matrix) < 2:
            raise ValueError(f"reference_data: need at least 2 rows, got {len(matrix)}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("reference_data: holds NaN or infinity; summarise finite training inputs")
        if matrix.shape[1] > MAX_FEATURES:
            raise ValueError(f"reference_data: {matrix.shape[1]} features, more than {MAX_FEATURES}")
        return cls(len(matrix), [_summarise(column) for column in matrix.T.astype(np.float64)])

    def drift(self, window):
        """A FeatureDrift per feature of `window`, a (rows, features) array of recent inputs."""
        if window.ndim != 2 or window.shape[1] != len(self.features) or len(window) == 0:
            raise ValueError(f"drift: expected a non-empty window of {len(self.features)} features, "
                             f"got shape {window.shape}")
        return [_feature_drift(summary, window[:, j], self.rows) for j, summary in enumerate(self.features)]

    def to_dict(self):
        return {"rows": self.rows, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data, where):
        """Rebuild from to_dict() output read from a file; ModelFileError for anything malformed."""
        if not isinstance(data, dict) or set(data) != {"rows", "features"}:
            raise ModelFileError(f"{where}: reference_statistics must be an object with keys rows, features")
        rows, features = data["rows"], data["features"]
        if not is_int(rows) or rows < 2:
            raise ModelFileError(f"{where}: reference_statistics.rows must be an integer >= 2, got {rows!r}")
        if not isinstance(features, list) or not 0 < len(features) <= MAX_FEATURES:
            raise ModelFileError(f"{where}: reference_statistics.features must be a list of 1 to "
                                 f"{MAX_FEATURES} feature summaries")
        return cls(rows, [_feature_from_dict(f, f"{where}: reference_statistics.features[{i}]")
                          for i, f in enumerate(features)])


def _numbers(value, what, min_len, max_len):
    if (not isinstance(value, list) or not min_len <= len(value) <= max_len
            or not all(_is_number(v) for v in value)):
        raise ModelFileError(f"{what} must be a list of {min_len} to {max_len} finite numbers")
    return np.array(value, dtype=np.float64)


def _frequencies(value, what, length):
    freq = _numbers(value, what, length, length)
    if np.any(freq < 0) or abs(freq.sum() - 1.0) > 1e-6:
        raise ModelFileError(f"{what} must be non-negative and add up to 1")
    return freq


def _feature_from_dict(entry, what):
    if not isinstance(entry, dict):
        raise ModelFileError(f"{what} must be an object")
    if entry.get("kind") == "numeric" and set(entry) == {"kind", "quantiles", "edges", "frequencies"}:
        quantiles = _numbers(entry["quantiles"], f"{what}.quantiles", QUANTILES, QUANTILES)
        edges = _numbers(entry["edges"], f"{what}.edges", 1, len(_DECILES))
        if np.any(np.diff(quantiles) < 0) or np.any(np.diff(edges) <= 0):
            raise ModelFileError(f"{what}: quantiles must not decrease and edges must increase")
        return _Numeric(quantiles, edges, _frequencies(entry["frequencies"], f"{what}.frequencies", len(edges) + 1))
    if entry.get("kind") == "categorical" and set(entry) == {"kind", "categories", "frequencies"}:
        categories = _numbers(entry["categories"], f"{what}.categories", 1, MAX_CATEGORIES)
        if np.any(np.diff(categories) <= 0):
            raise ModelFileError(f"{what}: categories must increase")
        return _Categorical(categories, _frequencies(entry["frequencies"], f"{what}.frequencies", len(categories)))
    raise ModelFileError(f"{what} must be a numeric summary (kind, quantiles, edges, frequencies) or a "
                         f"categorical one (kind, categories, frequencies)")


def flatten_inputs(arrays, what):
    """One (rows, features) float32 matrix from a list of batch-first arrays (each flattened per row)."""
    columns = [np.asarray(a, dtype=np.float32) for a in arrays]
    if not columns or any(c.ndim < 1 for c in columns) or len({len(c) for c in columns}) != 1:
        raise ValueError(f"{what}: expected batch-first arrays with equal numbers of rows")
    # the width from the shape, not -1: numpy cannot infer it for 0 rows
    return np.concatenate([c.reshape(len(c), math.prod(c.shape[1:])) for c in columns], axis=1)
