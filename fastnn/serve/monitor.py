"""Drift monitoring: a window of recent inputs compared with the model's reference statistics.

Every ``every`` new rows (once the window holds ``min_rows``), each feature of the window is tested
against the reference (fastnn.drift: KS p < 0.05, PSI > 0.1); the scores and the share of drifted
features go to the metrics, and a warning is logged for features that have just crossed a threshold.
"""
import logging
import math
import threading

import numpy as np

from ..drift import flatten_inputs

__all__ = ["DriftMonitor", "feature_names", "numeric_inputs"]

logger = logging.getLogger("fastnn.serve")


def numeric_inputs(signature):
    """Indices of the inputs drift is measured on: all but string (BYTES) inputs, which have no reference
    statistics (free text has no per-feature distribution to compare)."""
    return [i for i, tensor in enumerate(signature.inputs) if tensor.datatype != "BYTES"]


def feature_names(signature):
    """Labels of the flattened numeric input features: "0", "1", ... for one input, "name/0", ... for
    several."""
    names = []
    for tensor in (signature.inputs[i] for i in numeric_inputs(signature)):
        count = math.prod(tensor.shape[1:])
        prefix = f"{tensor.name}/" if len(signature.inputs) > 1 else ""
        names += [f"{prefix}{j}" for j in range(count)]
    return names


class DriftMonitor:
    """Keep the last `window` input rows and score their drift from `reference`.

    Args:
        reference: the model's fastnn.drift.ReferenceStatistics.
        model_name: for the log messages.
        names: one label per feature (feature_names).
        metrics: the server's Metrics.
        window: rows kept.
        every: new rows between two evaluations; by default 200, or 25 a feature for wide inputs (an
            evaluation costs about 0.2 ms a feature, so this keeps it near 5 % of a worker's time at
            6,000 rows a second, whatever the width).
        min_rows: rows the window needs before the first evaluation.
    """

    def __init__(self, reference, model_name, names, metrics, window=1000, every=None, min_rows=100):
        self.reference, self.model_name, self.names, self.metrics = reference, model_name, names, metrics
        self.every = max(200, 25 * len(names)) if every is None else every
        self.min_rows = min(min_rows, window)
        self._rows = np.empty((window, len(names)), np.float32)
        self._filled = self._at = self._new = 0
        self._drifted = {"ks": set(), "psi": set()}
        self._lock = threading.Lock()

    def add(self, inputs):
        """Append a batch's inputs (one array per model input); evaluate when enough new rows came."""
        matrix = flatten_inputs(inputs, "drift window")
        size = len(self._rows)
        latest = matrix[-size:]
        with self._lock:
            self._rows[(self._at + np.arange(len(latest))) % size] = latest
            self._at = (self._at + len(latest)) % size
            self._filled = min(size, self._filled + len(latest))
            self._new += len(matrix)
            if self._filled >= self.min_rows and self._new >= self.every:
                self._new = 0
                self._evaluate(self._rows[:self._filled])

    def _evaluate(self, window):
        drift = self.reference.drift(window)
        scores = {}
        for name, d in zip(self.names, drift):
            scores[(name, "ks")] = d.ks_p_value
            scores[(name, "psi")] = d.psi
        drifted = {"ks": {n for n, d in zip(self.names, drift) if d.ks_drift},
                   "psi": {n for n, d in zip(self.names, drift) if d.psi_drift}}
        self.metrics.drift(scores, {m: len(s) / len(self.names) for m, s in drifted.items()}, len(window))
        rules = {"ks": "KS p < 0.05", "psi": "PSI > 0.1"}
        for method, now in drifted.items():
            crossed = now - self._drifted[method]
            if crossed:
                logger.warning("model %s: input drift (%s) on %d of %d features, newly on %s", self.model_name,
                               rules[method], len(now), len(self.names), sorted(crossed)[:20])
            elif self._drifted[method] and not now:
                logger.info("model %s: no input drift (%s) any more", self.model_name, rules[method])
        self._drifted = drifted
