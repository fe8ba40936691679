"""The metric base classes (the Keras shape rules they apply live in fastnn._shapes)."""
import numpy as np

from .._shapes import broadcast_weights as _broadcast_weights
from .._shapes import same_rank as _same_rank

__all__ = ["Metric", "Mean", "MeanMetricWrapper"]


class Metric:
    """Base of the metrics: name, dtype, config; subclasses keep state and define update_state/result.

    Args:
        name: the name in logs.
        dtype: None or 'float32'.
    """

    _default_name = "metric"

    @property
    def result_is_scalar(self):
        """Whether result() is one number, which compile's logs need (False for per-class results)."""
        return True

    def __init__(self, name=None, dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: only float32 is supported, got dtype={dtype!r}")
        self.name = self._default_name if name is None else str(name)
        self.dtype = "float32"
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


class Mean(Metric):
    """The weighted mean of every value passed to update_state(values, sample_weight=None)."""

    _default_name = "mean"

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            weights = _broadcast_weights(sample_weight, values.shape)
            self.total += float((values * weights).sum())
            self.count += float(weights.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


class _SampleMean(Mean):
    """A Mean of per-sample values computed from (y_true, y_pred) by _values."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._values(y_true, y_pred), sample_weight)

    def _values(self, y_true, y_pred):
        raise NotImplementedError


class MeanMetricWrapper(_SampleMean):
    """The mean of a plain function's per-sample values, as Keras's MeanMetricWrapper: compile(metrics=[fn])
    with fn(y_true, y_pred) returning one value per sample, computed in NumPy (metrics need no gradient).

    Args:
        fn: the function; its __name__ is the metric's name unless name is given.
        name: the name in logs.
    """

    def __init__(self, fn, name=None, dtype=None):
        self.fn = fn
        super().__init__(name=getattr(fn, "__name__", "metric") if name is None else name, dtype=dtype)

    def _values(self, y_true, y_pred):
        y_true, y_pred = _same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred)

    def get_config(self):
        # a file never holds code, so it could not be loaded: refuse to write it
        raise TypeError(f"metric '{self.name}' is a Python function, which a model file cannot hold: compile "
                        f"with a built-in or registered fastnn.metrics.Metric to save the model, or use save_weights")
