"""What users pass to fit, evaluate and predict, checked and converted once: inputs, targets and sample
weights as one array per model input / output, with errors that name the call, the model input or
output, what was expected and what came. Python generators and fastnn.data.PyDataset objects are
read batch by batch through the same checks."""
import numpy as np

from .._C import contiguous_f32, is_f32
from ..data import PyDataset

__all__ = ["DEFAULT_BATCH_SIZE", "as_inputs", "as_targets", "as_sample_weight", "batch_size", "verbosity",
           "epochs", "steps", "is_batch_source", "check_finite"]

DEFAULT_BATCH_SIZE = 32
_F32_MAX = float(np.finfo(np.float32).max)


def _structure(value, names, what, kind):
    """value as one entry per name: a dict by name, a list/tuple in order, or one value for one name."""
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        unknown = sorted(set(value) - set(names))
        if missing or unknown:
            raise ValueError(f"{what}: the model's {kind}s are {names}; got a dict with keys {sorted(value)}")
        return [value[n] for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"{what}: the model has {len(names)} {kind}s ({', '.join(names)}), got a list of "
                             f"{len(value)}")
        return list(value)
    if len(names) > 1:
        raise ValueError(f"{what}: the model has {len(names)} {kind}s ({', '.join(names)}); pass a list or a "
                         f"dict by name, got {type(value).__name__}")
    return [value]


def _float_array(x, what):
    """x as C-contiguous float32, refusing non-numbers (TypeError) and float64 values beyond float32's
    range (ValueError: an overflow, not a NaN)."""
    if isinstance(x, np.ndarray) and (x.dtype.kind != "f" or x.dtype.itemsize <= 4):
        fast = contiguous_f32(x)
        if fast is not None:
            return fast
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and objects numpy refuses
        raise TypeError(f"{what}: expected an array of real numbers, got {type(x).__name__}: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected an array of real numbers, got dtype {arr.dtype}"
                        + (" (strings go to a model whose Input has dtype='string')" if arr.dtype.kind in "USO" else ""))
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and arr.size:
        with np.errstate(invalid="ignore"):
            big = (np.abs(arr) > _F32_MAX) & np.isfinite(arr)
        if big.any():
            where = tuple(int(i) for i in np.argwhere(big)[0])
            raise ValueError(f"{what}: value {arr[where].item()!r} at index {where} overflows float32 (largest "
                             f"{_F32_MAX:.4g}); rescale the data")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _int_array(x, what):
    try:
        arr = np.asarray(x)
    except ValueError:  # numpy refuses ragged nested lists
        arr = np.empty(0, object)
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.dtype.kind == "f":  # ids read as floats (np.loadtxt) are taken, as Keras's Embedding casts them
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0 ** 63)
        if whole.all():
            return np.ascontiguousarray(arr, dtype=np.int64)
        where = np.unravel_index(np.flatnonzero(~whole)[0], arr.shape)
        raise TypeError(f"{what}: expected integer token ids, got {arr.dtype} value {arr[where].item()!r} at index "
                        f"{tuple(int(i) for i in where)}")
    raise TypeError(f"{what}: expected integer token ids, got dtype {arr.dtype}"
                    + (" (a ragged list of sequences? pad it with fastnn.utils.pad_sequences)"
                       if arr.dtype == object else ""))


def _string_array(x, what):
    arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    if arr.dtype.kind not in "USO":
        raise TypeError(f"{what}: expected strings, got dtype {arr.dtype}")
    if arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr.reshape(-1)):
        raise TypeError(f"{what}: expected strings, got an array holding other objects")
    return arr


def as_inputs(model, x, what):
    """x as one array per model input (float32, int64 or str as each Input declares), shapes checked."""
    if x is None:
        raise ValueError(f"{what}: x is required")
    specs = model._input_specs(x)
    if len(specs) == 1 and is_f32(x) and specs[0][2] == "float32" and x.ndim and x.shape[1:] == specs[0][1][1:]:
        return [x]  # the common case, already as the kernels take it
    arrays = []
    for (name, shape, dtype), value in zip(specs, _structure(x, [s[0] for s in specs], what, "input")):
        label = f"{what}: input '{name}'" if len(specs) > 1 else f"{what}: x"
        if value is None:
            raise ValueError(f"{label} is missing")
        if dtype == "float32":
            arr = _float_array(value, label)
        elif dtype == "int64":
            arr = _int_array(value, label)
        else:
            arr = _string_array(value, label)
        if arr.ndim and arr.ndim == len(shape) - 1 and shape[-1] == 1:
            arr = arr[..., np.newaxis]  # as Keras: a column (a list of texts, dict(df)'s Series) for Input((1,))
        if arr.ndim < 1:
            raise ValueError(f"{label} must have a batch dimension, got a scalar")
        if arr.shape[1:] != tuple(shape[1:]) and (
                len(shape) != arr.ndim or any(e is not None and e != d for e, d in zip(shape[1:], arr.shape[1:]))):
            raise model._input_shape_error(name, shape, arr.shape)
        arrays.append(arr)
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"{what}: all inputs need the same number of samples, got {[len(a) for a in arrays]}")
    return arrays


def as_targets(outputs, y, n, what):
    """y as one array per model output (None for outputs without a loss): int64 labels for a sparse
    categorical loss, float32 otherwise; (n,) becomes (n, 1) for a one-column output."""
    if y is None:
        raise ValueError(f"{what}: y is required")
    names = [o.name for o in outputs]
    targets = []
    for out, value in zip(outputs, _structure(y, names, what, "output")):
        label = f"{what}: y['{out.name}']" if len(outputs) > 1 else f"{what}: y"
        if value is None:
            if out.loss is not None:
                raise ValueError(f"{label} is missing, but output '{out.name}' has a loss")
            targets.append(None)
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{label} must hold numbers, got dtype {arr.dtype}")
        if arr.ndim == 0 or len(arr) != n:
            raise ValueError(f"{what}: x and y must have the same number of samples, got x with {n} and "
                             f"{label.split(': ')[-1]} with {'no batch dimension' if arr.ndim == 0 else len(arr)}")
        if out.loss is not None and out.loss.takes_labels:
            targets.append(_labels(arr, label))
            continue
        arr = _float_array(arr, label)
        if arr.ndim == 1 and out.shape[1:] == (1,):
            arr = arr.reshape(-1, 1)
        targets.append(arr)
    return targets


def _labels(arr, what):
    """Class labels as int64: integers as they are, floats only when finite whole numbers."""
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            raise ValueError(f"{what}: labels contain NaN or infinity (first at index "
                             f"{tuple(int(i) for i in np.argwhere(~finite)[0])})")
        if not np.array_equal(arr, np.floor(arr)):
            raise ValueError(f"{what}: labels must be whole numbers (class indices)")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_sample_weight(sample_weight, class_weight, targets, n, what):
    """One float32 weight per sample (from sample_weight, or from class_weight and the first target), or None."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{what}: give sample_weight or class_weight, not both")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"{what}: class_weight must be a dict {{class index: weight}}")
        if len(targets) > 1:  # Keras's rule and words: whose labels would the classes be?
            raise ValueError(f"{what}: `class_weight` is only supported for Models with a single output.")
        y = next(t for t in targets if t is not None)
        labels = y if y.ndim == 1 else (y[:, 0] if y.shape[-1] == 1 else np.argmax(y.reshape(n, -1), axis=-1))
        labels = np.round(labels.reshape(-1)).astype(np.int64)
        weights = np.ones(n, np.float32)
        for cls, weight in class_weight.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
                raise TypeError(f"{what}: class_weight of class {cls!r} must be a number, got {type(weight).__name__}")
            # a NaN would poison the loss and a negative weight train away from the class
            if not (np.isfinite(weight) and weight >= 0):
                raise ValueError(f"{what}: class_weight of class {cls!r} must be finite and non-negative, "
                                 f"got {weight!r}")
            weights[labels == int(cls)] = weight
        return weights
    if sample_weight is None:
        return None
    if isinstance(sample_weight, dict) or (isinstance(sample_weight, (list, tuple)) and len(targets) > 1
                                           and any(np.ndim(w) > 0 for w in sample_weight)):
        raise TypeError(f"{what}: sample_weight must be one array of per-sample weights, which weighs every "
                        f"output's loss; per-output sample weights (a dict or list by output) are not supported")
    weights = _float_array(sample_weight, f"{what}: sample_weight")
    if weights.ndim > 1 and weights.shape[1:] == (1,) * (weights.ndim - 1):
        weights = weights.reshape(-1)
    if len(weights) != n:
        raise ValueError(f"{what}: sample_weight needs one weight per sample ({n}), got shape {np.shape(sample_weight)}")
    if not np.isfinite(weights).all():
        raise ValueError(f"{what}: sample_weight contains NaN or infinity")
    return weights


def check_finite(arrays, names, what):
    """Refuse NaN or infinity in float training data, naming the first bad sample."""
    for arr, name in zip(arrays, names):
        if arr is None or arr.dtype.kind != "f":
            continue
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1) if arr.size else np.zeros(0, bool)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(f"{what}: {name} contains NaN or infinity (first in sample {row}); clean the data "
                             f"or start the model with a fastnn.layers.Imputation layer")


def batch_size(value, what):
    if value is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}: batch_size must be a positive int, got {value!r}")
    return int(value)


def epochs(value, initial_epoch):
    for name, v in (("epochs", value), ("initial_epoch", initial_epoch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"fit: {name} must be a non-negative int, got {v!r}")
    return int(value), int(initial_epoch)


def steps(value, name, what):
    """A step count (steps_per_epoch, validation_steps, steps): None for all the data, else a positive int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}: {name} must be a positive int or None, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{what}: {name} must be a positive int or None, got {value!r}")
    return int(value)


def verbosity(verbose, what, default=1):
    if verbose == "auto":
        return default
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"{what}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return verbose


def is_batch_source(x):
    """Whether x yields batches itself (a generator, an iterator or a fastnn.data.PyDataset) rather than
    being data to batch."""
    return isinstance(x, PyDataset) or (hasattr(x, "__next__") and hasattr(x, "__iter__"))
