"""What the preprocessing layers share: adapt() over arrays and batch sources, calls on strings and
integers outside a model, and the checks of what a model feeds them."""
import numpy as np

from ...data import PyDataset
from ...engine.context import CallContext
from ..base import Layer

__all__ = ["PreprocessingLayer", "adapt_batches", "as_tokens"]

# Rows adapt reads at once from an array when no batch_size is given: bounded, so a memory-mapped array
# larger than memory streams through too.
ADAPT_ROWS = 1 << 16


def _positive_int(value, name, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}: {name} must be a positive int or None, got {value!r}")
    return int(value)


def _features(batch):
    """The inputs of a batch: x of an (x, y) or (x, y, sample_weight) tuple, else the batch itself."""
    return batch[0] if isinstance(batch, tuple) else batch


def adapt_batches(data, batch_size, steps, what):
    """The batches adapt reads from `data`, in order.

    An array (or a list or DataFrame, converted with np.asarray) is read in slices of batch_size rows (ADAPT_ROWS
    when None); a fastnn.data.PyDataset batch by batch in index order; any other iterable (a generator
    of batches) as it yields them. Tuples (x, y[, sample_weight]) give their x. steps caps the number
    of batches.
    """
    batch_size = _positive_int(batch_size, "batch_size", what)
    steps = _positive_int(steps, "steps", what)
    if isinstance(data, PyDataset):
        count = len(data) if steps is None else min(len(data), steps)
        return (_features(data[i]) for i in range(count))
    if isinstance(data, (np.ndarray, list, tuple)) or hasattr(data, "__array__"):
        # __array__: a pandas DataFrame or Series is its values, as fit takes it (iterating gives column names)
        return _array_batches(data, batch_size or ADAPT_ROWS, steps, what)
    if hasattr(data, "__iter__"):
        return _iterator_batches(iter(data), steps)
    raise TypeError(f"{what}: expected an array, a fastnn.data.PyDataset or an iterable of batches, "
                    f"got {type(data).__name__}")


def _array_batches(data, rows, steps, what):
    array = data if isinstance(data, np.ndarray) else np.asarray(data)
    if array.ndim == 0:
        raise ValueError(f"{what}: the data needs a batch dimension, got a scalar")
    for step, start in enumerate(range(0, len(array), rows)):
        if steps is not None and step >= steps:
            return
        yield array[start:start + rows]


def _iterator_batches(iterator, steps):
    for step, batch in enumerate(iterator):
        if steps is not None and step >= steps:
            return
        yield _features(batch)


def as_tokens(x, what):
    """Strings as a numpy unicode array (str objects, bytes as UTF-8); TypeError for anything else."""
    array = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=object if isinstance(x, (list, tuple)) else None)
    kind = array.dtype.kind
    if kind == "U":
        return array
    if kind == "S":
        return np.strings.decode(array, "utf-8")
    if kind == "O" and all(isinstance(v, str) for v in array.reshape(-1)):
        return array.astype(str) if array.size else array.astype("U1")
    raise TypeError(f"{what}: expected strings, got {'objects' if kind == 'O' else f'dtype {array.dtype}'}")


def as_integers(x, what):
    """Integers as int64 (floats only when they are whole numbers); TypeError for anything else."""
    array = np.asarray(x)
    if array.dtype.kind in "iub":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f" and np.array_equal(array, np.floor(array)):
        return array.astype(np.int64)
    raise TypeError(f"{what}: expected integers, got dtype {array.dtype}")


def as_floats(x, what):
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected real numbers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


_CONVERTERS = {"float32": as_floats, "int64": as_integers, "string": as_tokens}


class PreprocessingLayer(Layer):
    """Base of the layers whose state comes from data (adapt) or from their arguments, not from
    gradients.

    Subclasses that learn from data implement _adapt_begin(batch) (build for the data's shape, reset
    the statistics), _adapt_update(batch) and _adapt_end() (store the state). `input_dtype` ('float32',
    'int64' or 'string') is what the layer reads: a model input of another dtype is refused when the
    layer is called on it, and arrays given to the layer outside a model are converted to it.
    """

    input_dtype = "float32"

    def _accepts_dtype(self, dtype):
        return dtype == self.input_dtype

    def compute_output_dtype(self, input_dtype):
        if not self._accepts_dtype(input_dtype):
            raise TypeError(f"{type(self).__name__} '{self.name}' reads {self.input_dtype} inputs, got a "
                            f"{input_dtype} tensor" + (" (declare fastnn.Input(..., dtype='string'))"
                                                        if self.input_dtype == "string" else ""))
        return self._output_dtype()

    def _output_dtype(self):
        return "float32"

    def _convert(self, x, what):
        """x as the array forward takes: float32, int64 or unicode strings."""
        return _CONVERTERS[self.input_dtype](x, what)

    def _call_eager(self, flat, multi, training):
        # a preprocessing layer takes one input, so a list is its data (tv(["the cat"])), as in Keras
        x = self._convert(flat if multi else flat[0], f"{type(self).__name__} '{self.name}'")
        if x.ndim == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': the input needs a batch dimension, got a scalar")
        if not self.built:
            self.build((None,) + x.shape[1:])
        y = self.forward(CallContext(training), x)
        return np.array(y, copy=True)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the layer's state (statistics, vocabulary, bin boundaries) from data.

        The data streams through one batch at a time, so it may be larger than memory; statistics are
        merged in the order the batches come, so the same data in the same batches gives the same
        bits. Adapting again starts afresh.

        Args:
            data: an array (or list), a fastnn.data.PyDataset, or an iterable (a generator) of batches;
                batches that are (x, y) tuples give their x.
            batch_size: rows read at once from an array (default 65536); ignored for batch sources.
            steps: read at most this many batches.
        """
        what = f"{type(self).__name__} '{self.name}'.adapt"
        started = False
        for batch in adapt_batches(data, batch_size, steps, what):
            batch = self._convert(batch, what)
            if batch.ndim == 0:
                raise ValueError(f"{what}: each batch needs a batch dimension, got a scalar")
            if not started:
                self._adapt_begin(batch, what)
                started = True
            self._adapt_update(batch, what)
        if not started:
            raise ValueError(f"{what}: the data holds no batches")
        self._adapt_end(what)

    def _adapt_begin(self, batch, what):
        raise TypeError(f"{what}: {type(self).__name__} has no state to learn from data")

    def _adapt_update(self, batch, what):
        raise NotImplementedError

    def _adapt_end(self, what):
        raise NotImplementedError

    def _build_for(self, batch, what):
        """Build for the shape of the first adapt batch, or check that a built layer matches it."""
        shape = (None,) + tuple(batch.shape[1:])
        if not self.built:
            self.build(shape)
            return
        if self.any_input_shape:
            self.compute_output_shape(shape)
            return
        built = self.input_shape
        if len(built) != len(shape) or any(b is not None and b != s for b, s in zip(built[1:], shape[1:])):
            raise ValueError(f"{what}: the layer was built for inputs of shape {built}, but the data has shape "
                             f"{tuple(batch.shape)}")
