"""Embedding: token ids to dense vectors, with a sparse gradient."""
import numpy as np

from .. import ops
from .base import Layer, deserialize_object, register, serialize_object

__all__ = ["Embedding"]


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


@register
class Embedding(Layer):
    """Turns token ids into vectors: row id of the embeddings matrix (input_dim, output_dim).

    Training writes the gradient sparsely: the rows a batch used, each the sum of its positions'
    gradients in position order (deterministic). The gradient array stays zero elsewhere (the rows
    the previous step touched are cleared), and SGD without momentum or Adagrad update those rows
    alone; other optimizers update every row, as their state moves rows with a zero gradient too.

    Args:
        input_dim: vocabulary size: ids are in [0, input_dim).
        output_dim: the size of each vector.
        embeddings_initializer: initializer of the matrix (Keras's default 'uniform', in +-0.05).
            Pretrained vectors: fastnn.initializers.Constant(matrix) with trainable=False
            (fastnn.text.load_word_vectors reads the common text format). A matrix is not written
            into get_config (it can be large; a saved model keeps it in its weights): a layer
            rebuilt from the config alone starts from 'uniform'.
        embeddings_regularizer: optional regularizer of the matrix (its gradient is then dense).
        mask_zero: id 0 is padding: the layer makes a mask (id != 0) that recurrent layers, pooling
            and the losses after it follow, as Keras does. Then input_dim counts the padding id.
        weights: optional initial matrix (Keras's alternative to a Constant initializer).
        input_length: Keras 2's argument, accepted for old configs: the input shape (input_length,).
        **kwargs: name, trainable, input_shape (for the first layer of a Sequential model).

    Input shape:
        integer ids of any shape (batch, ...), usually (batch, steps).
    Output shape:
        (batch, ..., output_dim), float32.

    Example:
        >>> model = fastnn.Sequential([fastnn.Input((20,), dtype="int64"),
        ...                            Embedding(10000, 64, mask_zero=True), LSTM(32), Dense(1)])
    """

    input_dtype = "int64"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, input_length=None, lora_rank=None,
                 activity_regularizer=None, quantization_config=None, **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        for name, value in (("embeddings_constraint", embeddings_constraint), ("lora_rank", lora_rank),
                            ("activity_regularizer", activity_regularizer),
                            ("quantization_config", quantization_config)):
            if value is not None:
                raise ValueError(f"Embedding '{self.name}': {name} is not supported (only None), got {value!r}")
        from .. import initializers, regularizers

        self.input_dim = _positive_int(input_dim, f"Embedding '{self.name}': input_dim")
        self.output_dim = _positive_int(output_dim, f"Embedding '{self.name}': output_dim")
        if weights is not None:
            matrix = weights[0] if isinstance(weights, (list, tuple)) and len(weights) == 1 else weights
            embeddings_initializer = initializers.Constant(matrix)
        self.embeddings_initializer = deserialize_object(initializers, embeddings_initializer)
        self.embeddings_regularizer = (None if embeddings_regularizer is None
                                       else deserialize_object(regularizers, embeddings_regularizer))
        self.mask_zero = bool(mask_zero)
        self.makes_mask = self.mask_zero
        self.embeddings = None
        self._touched = None

    def weight_shapes(self, input_shape):
        return [(self.input_dim, self.output_dim)]

    def build(self, input_shape):
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                        self.embeddings_regularizer, sparse_rows=True)
        self._weights_bound()
        super().build(input_shape)

    def _weights_bound(self):
        self.embeddings = self._weights[0]
        self._touched = None  # a new gradient array: its rows are unknown until the next backward clears it

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, x, mask):
        return np.not_equal(x, 0) if self.mask_zero else None

    def forward(self, ctx, x):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and (np.mod(x, 1) == 0).all():
            # ids through a float32 Input (its default), which Keras casts: whole numbers (exact below 2**24)
            ids = ctx.buffer("ids", x.shape, np.int64)
            np.copyto(ids, x, casting="unsafe")
            x = ids
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "iu":
            raise TypeError(f"Embedding '{self.name}' expects integer token ids (floats only when whole numbers), "
                            f"got {'dtype ' + str(x.dtype) if isinstance(x, np.ndarray) else type(x).__name__}; "
                            f"give the model fastnn.Input(..., dtype='int64') in front of it")
        y = ops.embedding_lookup(x, self.embeddings, out=ctx.buffer("y", x.shape + (self.output_dim,)))
        if ctx.training:
            ctx.ids = x
        return y

    def backward(self, ctx, dy):
        grad = self._grads[0]
        if grad is None:
            return None
        rows, sums = ops.embedding_backward(ctx.ids, dy, self.input_dim)
        if ctx.accumulate:  # a second call of a shared embedding adds to what the first wrote this step
            grad[rows] += sums
            self._touched = None if self._touched is None else np.union1d(self._touched, rows)
            return None
        if self._touched is None:
            grad.fill(0.0)
        else:
            grad[self._touched] = 0.0
        grad[rows] = sums
        # a regularizer adds its (dense) gradient after this: then any row may be non-zero
        self._touched = rows if self.embeddings_regularizer is None else None
        return None

    def touched_rows(self, i):
        return self._touched

    def get_config(self):
        from .. import initializers

        initializer = self.embeddings_initializer
        if isinstance(initializer, initializers.Constant) and not isinstance(initializer.value, float):
            initializer = initializers.RandomUniform()
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=serialize_object(initializer),
                      embeddings_regularizer=serialize_object(self.embeddings_regularizer), mask_zero=self.mask_zero)
        return config
