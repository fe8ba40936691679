"""Checking and converting what users pass to fit, evaluate and predict: inputs, targets, weights and
options, with errors that name the call, what was expected and what came."""
import numpy as np

from .ops._convert import as_contiguous_float32, as_float32

DEFAULT_BATCH_SIZE = 32


def as_inputs(model, x, what):
    if x is None:
        raise ValueError(f"{what}: x is required")
    x = as_contiguous_float32(x, f"{what}: x")
    if x.ndim < 1:
        raise ValueError(f"{what}: x must have a batch dimension, got a scalar")
    if not model.built:
        if not model._layers:
            raise ValueError(f"Sequential '{model.name}' has no layers")
        model.build((None,) + x.shape[1:])
    expected = model._build_input_shape
    if x.shape[1:] == expected[1:]:
        return x
    if len(expected) != x.ndim or any(e is not None and e != d for e, d in zip(expected[1:], x.shape[1:])):
        first = model._layers[0]
        if hasattr(first, "input_dim") and x.ndim == len(expected):
            raise ValueError(f"{type(first).__name__} '{first.name}' expected input with last dimension "
                             f"{expected[-1]}, got shape {x.shape}")
        raise ValueError(f"{type(first).__name__} '{first.name}' expected input of shape {expected}, "
                         f"got shape {x.shape}")
    return x


def as_targets(model, y, n, what):
    if y is None:
        raise ValueError(f"{what}: y is required")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{what}: y must hold numbers, got dtype {y.dtype}")
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{what}: x and y must have the same number of samples, got x with {n} and y with "
                         f"{'no batch dimension' if y.ndim == 0 else len(y)}")
    from .losses import SparseCategoricalCrossentropy

    if isinstance(model.loss, SparseCategoricalCrossentropy) and y.dtype.kind in "biu":
        return np.ascontiguousarray(y, dtype=np.int64)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim == 1 and model.output_shape[1:] == (1,):
        y = y.reshape(-1, 1)
    return y


def as_sample_weight(sample_weight, class_weight, y, n, what):
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{what}: give sample_weight or class_weight, not both")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"{what}: class_weight must be a dict {{class index: weight}}")
        labels = y if y.ndim == 1 else (y[:, 0] if y.shape[-1] == 1 else np.argmax(y.reshape(n, -1), axis=-1))
        labels = np.round(labels.reshape(-1)).astype(np.int64)
        weights = np.ones(n, np.float32)
        for cls, weight in class_weight.items():
            weights[labels == int(cls)] = weight
        return weights
    if sample_weight is None:
        return None
    weights = np.ascontiguousarray(as_float32(sample_weight, f"{what}: sample_weight")).reshape(-1)
    if weights.size != n:
        raise ValueError(f"{what}: sample_weight needs one weight per sample ({n}), got shape {np.shape(sample_weight)}")
    if not np.isfinite(weights).all():
        raise ValueError(f"{what}: sample_weight contains NaN or infinity")
    return weights


def check_finite(arr, name, what):
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{what}: {name} contains NaN or infinity")


def batch_size(batch_size, what):
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{what}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def verbosity(verbose, what, default=1):
    if verbose == "auto":
        return default
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"{what}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return verbose


def require_compiled(model, what):
    if not model.compiled:
        raise RuntimeError(f"Sequential '{model.name}': you must call compile() before {what}()")
    if model.loss is None:
        raise RuntimeError(f"Sequential '{model.name}': {what}() needs a loss; pass loss= to compile()")


def training_arrays(model, x, y, sample_weight, class_weight, what):
    x = as_inputs(model, x, what)
    y = as_targets(model, y, len(x), what)
    check_finite(x, "x", what)
    check_finite(y, "y", what)
    return x, y, as_sample_weight(sample_weight, class_weight, y, len(x), what)
