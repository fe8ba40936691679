"""Prometheus metrics of a model server, through prometheus-client when installed, else our own text format.

Names follow Prometheus's conventions: the ``fastnn_`` prefix, base units (seconds), ``_total`` on counters.

- ``fastnn_requests_total{model,outcome}``: inference requests; outcome is success, client_error (4xx) or
  server_error (5xx)
- ``fastnn_request_duration_seconds{model}``: histogram of inference request durations, parsing to reply
- ``fastnn_batch_size{model}``: histogram of the rows of each predict call (requests batched together)
- ``fastnn_model_load_duration_seconds{model}``: how long loading the model file took
- ``fastnn_input_drift_score{model,feature,method}``: per-feature drift, method ks (the p-value; drift
  below 0.05) or psi (the index; drift above 0.1)
- ``fastnn_input_drifted_features_ratio{model,method}``: the share of features drifting by that method
- ``fastnn_input_drift_window_rows{model}``: rows in the window the drift scores were computed on
"""
import importlib.util
import math
import threading

__all__ = ["Metrics", "DURATION_BUCKETS", "BATCH_BUCKETS"]

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
OUTCOMES = ("success", "client_error", "server_error")
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "requests": "Inference requests by model and outcome.",
    "request_duration": "Inference request duration from parsing to reply.",
    "batch_size": "Rows per predict call (requests batched together).",
    "load": "Time taken to load the model file.",
    "drift_score": "Per-feature input drift: KS p-value (drift below 0.05) or PSI (drift above 0.1).",
    "drift_ratio": "Share of input features drifting, by method.",
    "drift_rows": "Rows of recent inputs the drift scores were computed on.",
}


def outcome_of(status):
    """The outcome label of an HTTP status: success, client_error or server_error."""
    return OUTCOMES[0] if status < 400 else OUTCOMES[1] if status < 500 else OUTCOMES[2]


class Metrics:
    """The server's metrics for one model.

    Args:
        model: the model name (the ``model`` label of every series).
        use_prometheus_client: True to require prometheus-client, False to emit the text format ourselves,
            None to use prometheus-client when it is installed.
    """

    def __init__(self, model, use_prometheus_client=None):
        if use_prometheus_client is None:
            use_prometheus_client = importlib.util.find_spec("prometheus_client") is not None
        self.model = model
        self._backend = _ClientBackend(model) if use_prometheus_client else _TextBackend(model)
        self.content_type = self._backend.content_type

    def request(self, status, seconds):
        self._backend.request(outcome_of(status), seconds)

    def batch(self, rows):
        self._backend.batch(rows)

    def loaded(self, seconds):
        self._backend.gauge("load", (), seconds)

    def drift(self, scores, ratios, rows):
        """scores: {(feature, method): value}; ratios: {method: share of drifted features}."""
        for (feature, method), value in scores.items():
            self._backend.gauge("drift_score", (feature, method), value)
        for method, value in ratios.items():
            self._backend.gauge("drift_ratio", (method,), value)
        self._backend.gauge("drift_rows", (), rows)

    def render(self):
        """The exposition text (bytes) of every metric."""
        return self._backend.render()


class _ClientBackend:
    """prometheus-client metrics in a registry of their own (several servers can share a process)."""

    def __init__(self, model):
        import prometheus_client as pc

        self._generate = pc.generate_latest
        self.content_type = pc.CONTENT_TYPE_LATEST
        self.registry = pc.CollectorRegistry()
        r, labels = self.registry, ["model"]
        self._requests = pc.Counter("fastnn_requests", _HELP["requests"], labels + ["outcome"], registry=r)
        self._outcomes = {o: self._requests.labels(model, o) for o in OUTCOMES}
        self._duration = pc.Histogram("fastnn_request_duration_seconds", _HELP["request_duration"], labels,
                                      buckets=DURATION_BUCKETS, registry=r).labels(model)
        self._batch = pc.Histogram("fastnn_batch_size", _HELP["batch_size"], labels, buckets=BATCH_BUCKETS,
                                   registry=r).labels(model)
        self._gauges = {
            "load": pc.Gauge("fastnn_model_load_duration_seconds", _HELP["load"], labels, registry=r),
            "drift_score": pc.Gauge("fastnn_input_drift_score", _HELP["drift_score"],
                                    labels + ["feature", "method"], registry=r),
            "drift_ratio": pc.Gauge("fastnn_input_drifted_features_ratio", _HELP["drift_ratio"],
                                    labels + ["method"], registry=r),
            "drift_rows": pc.Gauge("fastnn_input_drift_window_rows", _HELP["drift_rows"], labels, registry=r),
        }
        self.model = model

    def request(self, outcome, seconds):
        self._outcomes[outcome].inc()
        self._duration.observe(seconds)

    def batch(self, rows):
        self._batch.observe(rows)

    def gauge(self, key, labels, value):
        self._gauges[key].labels(self.model, *labels).set(value)

    def render(self):
        return self._generate(self.registry)


def _escape(value):
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _number(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Histogram:
    def __init__(self, buckets):
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value):
        i = next((i for i, b in enumerate(self.bounds) if value <= b), len(self.bounds))
        self.counts[i] += 1
        self.sum += value

    def lines(self, name, labels):
        cumulative = 0
        for bound, count in zip(self.bounds + (math.inf,), self.counts):
            cumulative += count
            yield f'{name}_bucket{{{labels},le="{_number(bound)}"}} {float(cumulative)!r}'
        yield f"{name}_count{{{labels}}} {float(cumulative)!r}"
        yield f"{name}_sum{{{labels}}} {self.sum!r}"


class _TextBackend:
    """The same metrics kept in dictionaries and written in the Prometheus text format 0.0.4."""

    content_type = TEXT_CONTENT_TYPE
    _GAUGES = {"load": ("fastnn_model_load_duration_seconds", ()),
               "drift_score": ("fastnn_input_drift_score", ("feature", "method")),
               "drift_ratio": ("fastnn_input_drifted_features_ratio", ("method",)),
               "drift_rows": ("fastnn_input_drift_window_rows", ())}

    def __init__(self, model):
        self._lock = threading.Lock()
        self._model_label = f'model="{_escape(model)}"'
        self._requests = dict.fromkeys(OUTCOMES, 0)
        self._duration = _Histogram(DURATION_BUCKETS)
        self._batch = _Histogram(BATCH_BUCKETS)
        self._gauges = {key: {} for key in self._GAUGES}

    def request(self, outcome, seconds):
        with self._lock:
            self._requests[outcome] += 1
            self._duration.observe(seconds)

    def batch(self, rows):
        with self._lock:
            self._batch.observe(rows)

    def gauge(self, key, labels, value):
        with self._lock:
            self._gauges[key][labels] = value

    def render(self):
        m = self._model_label
        with self._lock:
            out = ["# HELP fastnn_requests_total " + _HELP["requests"], "# TYPE fastnn_requests_total counter"]
            out += [f'fastnn_requests_total{{{m},outcome="{o}"}} {float(n)!r}' for o, n in self._requests.items()]
            for name, help_key, histogram in (("fastnn_request_duration_seconds", "request_duration", self._duration),
                                              ("fastnn_batch_size", "batch_size", self._batch)):
                out += [f"# HELP {name} {_HELP[help_key]}", f"# TYPE {name} histogram"]
                out += histogram.lines(name, m)
            for key, (name, label_names) in self._GAUGES.items():
                out += [f"# HELP {name} {_HELP[key]}", f"# TYPE {name} gauge"]
                for labels, value in self._gauges[key].items():
                    extra = "".join(f',{n}="{_escape(v)}"' for n, v in zip(label_names, labels))
                    out.append(f"{name}{{{m}{extra}}} {_number(value)}")
        return ("\n".join(out) + "\n").encode("utf-8")
