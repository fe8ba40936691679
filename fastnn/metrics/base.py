"""The metric base classes and the Keras shape rules every metric applies to its inputs."""
import numpy as np

__all__ = ["Metric", "Mean"]


def _same_rank(y_true, y_pred):
    """Keras's squeeze-or-expand: (B,) against (B, 1) become (B, 1) both; (B, T) against (B, T, 1) lose the 1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_pred, y_true = (y_pred[:, None], y_true) if y_pred.ndim == 1 else (y_pred, y_true[..., 0])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true, y_pred = (y_true[:, None], y_pred) if y_true.ndim == 1 else (y_true, y_pred[..., 0])
    if y_pred.ndim == 1 and y_true.ndim == 1:  # one value per sample
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} and y_pred {y_pred.shape}; they must match")
    return y_true, y_pred


def _broadcast_weights(sample_weight, shape):
    """sample_weight as float64 broadcast to shape: trailing size-1 axes dropped, missing ones added."""
    weights = np.asarray(sample_weight, dtype=np.float64)
    while weights.ndim > len(shape) and weights.shape[-1] == 1:
        weights = weights[..., 0]
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    try:
        return np.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not broadcast to {shape}") from None


class Metric:
    """Base of the metrics: name, dtype, config; subclasses keep state and define update_state/result.

    Args:
        name: the name in logs.
        dtype: None or 'float32'.
    """

    _default_name = "metric"

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
