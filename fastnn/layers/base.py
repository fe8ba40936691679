"""The Layer base class, automatic layer names and the registry that saving uses to rebuild layers.

A layer holds configuration and weights. Its forward(ctx, x) and backward(ctx, dy) keep whatever one
call needs in the call's context (fastnn.engine.context.CallContext), never on the layer, so one layer
can be called at several places of a graph and from several threads at once.
"""
import re

import numpy as np

from ..engine.context import CallContext
from ..engine.tensor import KerasTensor, Node, canonical_dtype

__all__ = ["Layer", "register", "get_layer_class", "unique_name", "reset_unique_names", "serialize_object",
           "deserialize_object"]

_REGISTRY = {}
_NAME_COUNTS = {}
# Bounds on any shape a layer config can state, so configs from files cannot ask for absurd sizes (or make
# the shape arithmetic itself slow): NumPy 1.x's own limit on dimensions, and 2**31 - 1 per dimension.
MAX_SHAPE_RANK = 32
MAX_DIMENSION = 2 ** 31 - 1


def register(cls):
    """Class decorator: make a layer class loadable by name (fastnn.saving rebuilds only registered classes)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def get_layer_class(name):
    """The registered layer class called `name`; ValueError listing the known ones otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"a layer's class_name must be a string, got {name!r}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown layer class {name!r}; registered layers: {', '.join(sorted(_REGISTRY))}") from None


def unique_name(prefix):
    """'dense', then 'dense_1', 'dense_2', ... for each prefix, as Keras names layers and models."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_unique_names():
    """The next name of every prefix is the bare prefix again (fastnn.backend.clear_session)."""
    _NAME_COUNTS.clear()


def _snake_case(name):
    """Keras's default layer names: Dense 'dense', SimpleRNN 'simple_rnn', LSTM 'lstm', Conv2D 'conv2d'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def serialize_object(obj):
    """A config-friendly form of an initializer/regularizer/loss...: {"class_name", "config"}, or None."""
    if obj is None:
        return None
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize_object(module, identifier):
    """Inverse of serialize_object against `module` (e.g. fastnn.initializers); other identifiers go to get()."""
    if isinstance(identifier, dict):
        if set(identifier) - {"class_name", "config", "module", "registered_name"} or "class_name" not in identifier:
            raise ValueError(f"{module.__name__}: expected {{'class_name', 'config'}}, got {identifier!r}")
        deserialize = getattr(module, "deserialize", None)
        if deserialize is not None:
            return deserialize({"class_name": identifier["class_name"], "config": identifier.get("config", {})})
        cls = getattr(module, identifier["class_name"], None)
        if not isinstance(cls, type):
            raise ValueError(f"{module.__name__}: unknown class {identifier['class_name']!r}")
        config = identifier.get("config") or {}
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    return module.get(identifier)


def _owned(y):
    """A new array of an eager call's output: float32, or the layer's own dtype (token ids)."""
    return np.array(y, dtype=np.float32 if y.dtype.kind == "f" else y.dtype, copy=True)


def checked_weight_value(value, target, what):
    """value as an array that can be copied into target, or an error naming `what` and both shapes."""
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {value.dtype}")
    if value.shape != target.shape:
        raise ValueError(f"{what} expected shape {target.shape}, got {value.shape}")
    if target.dtype.kind == "i" and value.size:  # integer weights (int8 kernels): no silent wrap or truncation
        bounds = np.iinfo(target.dtype)
        if not (np.all(np.isfinite(value)) and np.all(value == np.round(value))
                and value.min() >= bounds.min and value.max() <= bounds.max):
            raise ValueError(f"{what} must hold integers in [{bounds.min}, {bounds.max}] ({target.dtype})")
    return value


def normalize_shape(shape, what):
    """A shape argument (int or sequence of positive ints / None) as a tuple."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected a tuple of ints, got {shape!r}") from None
    if len(shape) > MAX_SHAPE_RANK:
        raise ValueError(f"{what}: at most {MAX_SHAPE_RANK} dimensions are supported, got {len(shape)}")
    if any(d is not None and not 0 < d <= MAX_DIMENSION for d in shape):
        raise ValueError(f"{what}: dimensions must be positive and at most {MAX_DIMENSION}, got {shape}")
    return shape


def check_data_format(layer, data_format):
    """fastnn's image layers take channels-last data (NHWC) only; Keras's data_format argument says so."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': only data_format='channels_last' (NHWC) is "
                         f"supported, got {data_format!r}")


def is_shape_list(shapes):
    """Whether `shapes` is a list of shapes (several tensors) rather than one shape."""
    return isinstance(shapes, list) and all(isinstance(s, tuple) for s in shapes)


class Layer:
    """Base of every layer: configuration, weights (float32 arrays) and their gradients, forward/backward.

    Subclasses implement build(input_shape), forward(ctx, x), backward(ctx, dy), compute_output_shape
    and get_config (and weight_shapes, so that a model file can be checked before anything is built).

    forward(ctx, x) returns the output; it may store on ctx what backward needs (ctx.x = x) and gets
    its output buffers from ctx.buffer(name, shape). backward(ctx, dy) returns dx (None when
    ctx.need_dx is False) and writes each weight's gradient into self.grads[i] (None for a weight that
    is not trained; added to rather than overwritten when ctx.accumulate), best through
    self._store_grad. A layer that takes several inputs (merge layers) receives and returns lists.
    backward must not modify dy.

    Args:
        name: unique name; generated from the class name when omitted.
        trainable: whether fit updates this layer's weights (takes effect at the next compile).
        dtype: only 'float32' (or None).
        input_shape: shape of one sample, for the first layer of a Sequential model.
        input_dim: shorthand for input_shape=(input_dim,).
    """

    # Class attributes the engine reads.
    fuses_activation = False  # forward applies ctx.activation, which the compile pass may change
    input_dtype = "float32"  # the dtype a model feeds this layer when it comes first
    supports_masking = False  # an input mask passes through unchanged (compute_mask's default)
    # neither weights nor work depend on the input's shape (compute_output_shape checks it): built on
    # one shape, the layer may be called on another, as Keras allows for lookups and text
    any_input_shape = False
    makes_mask = False  # compute_mask can make a mask from the input itself (Embedding(mask_zero), Masking)

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None, **kwargs):
        cls_name = type(self).__name__
        batch_size = kwargs.pop("batch_size", None)
        batch_shape = kwargs.pop("batch_input_shape", None)
        if batch_shape is not None:
            batch_size = tuple(batch_shape)[0] if batch_size is None else batch_size
            input_shape = tuple(batch_shape)[1:] if input_shape is None else input_shape
        if kwargs:
            raise TypeError(f"{cls_name}: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{cls_name}: only float32 is supported, got dtype={dtype!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{cls_name}: name must be a non-empty string, got {name!r}")
        self.name = name or unique_name(_snake_case(cls_name))
        self._trainable = bool(trainable)
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError(f"{cls_name} '{self.name}': give input_dim or input_shape, not both")
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else normalize_shape(input_shape, f"{cls_name} input_shape")
        # a fixed batch size for the Input a Sequential model makes for its first layer (stateful RNNs need one)
        self._batch_size_arg = None if batch_size is None else normalize_shape(batch_size, f"{cls_name} batch_size")[0]
        self.built = False
        self.input_shape = None
        self._weights = []
        self._grads = []
        self._weight_names = []
        self._weight_trainable = []
        self._regularizers = []
        self._sparse_rows = []
        self._inbound_nodes = []

    # ----- weights -------------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, regularizer=None, trainable=True, sparse_rows=False,
                   dtype=np.float32):
        """Create a weight (float32 unless dtype says otherwise) with `initializer` (a callable shape ->
        array); returns the array. Only float32 weights can be trainable.

        Args:
            name: the weight's name within the layer ('kernel', 'moving_mean', ...).
            shape: its shape.
            initializer: callable taking the shape.
            regularizer: optional; its penalty joins the loss and its gradient the weight's.
            trainable: False for state the optimizer never touches (moving statistics).
            sparse_rows: a step's gradient is non-zero only in the rows touched_rows(i) names (an
                embedding table), so an optimizer for which a zero gradient changes nothing updates
                only those rows.
            dtype: np.float32, or an integer type for non-trainable weights (QuantizedDense's int8 kernel);
                files store every weight as float32, which holds such integers exactly.
        """
        if trainable and np.dtype(dtype) != np.float32:
            raise ValueError(f"{type(self).__name__} '{self.name}': trainable weights are float32, got {dtype}")
        value = np.array(initializer(tuple(shape)), dtype=dtype, order="C", copy=None)  # 0-d stays 0-d
        if value.shape != tuple(shape):
            raise ValueError(f"{type(self).__name__} '{self.name}': initializer made shape {value.shape}, "
                             f"expected {tuple(shape)}")
        self._weights.append(value)
        self._grads.append(np.zeros_like(value) if trainable else None)
        self._weight_names.append(name)
        self._weight_trainable.append(bool(trainable))
        self._regularizers.append(regularizer)
        self._sparse_rows.append(bool(sparse_rows))
        return value

    def _bind_weights(self, weights, grads):
        """Switch to the given arrays (views into a model's flat vectors) for weights and gradients."""
        self._weights = list(weights)
        self._grads = list(grads)
        self._weights_bound()

    def _weights_bound(self):
        """Hook: refresh attribute shortcuts (kernel, bias, ...) after _bind_weights."""

    def _weights_changed(self):
        """Hook: refresh what the layer derives from its weight values (packed forms) after set_weights."""

    @property
    def trainable(self):
        """Whether fit trains this layer's weights (a change takes effect at the next compile)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def weights(self):
        """The live weight arrays, in Keras order."""
        return list(self._weights)

    def weight_is_trainable(self, i):
        """Whether weight i is trained now: declared trainable and the layer trainable."""
        return self._trainable and self._weight_trainable[i]

    @property
    def trainable_weights(self):
        return [w for i, w in enumerate(self._weights) if self.weight_is_trainable(i)]

    @property
    def non_trainable_weights(self):
        return [w for i, w in enumerate(self._weights) if not self.weight_is_trainable(i)]

    @property
    def grads(self):
        """The gradient arrays backward writes, matching `weights` (None where a weight is not trained)."""
        return list(self._grads)

    def touched_rows(self, i):
        """For a weight added with sparse_rows: the rows (sorted int64) outside which its gradient is
        zero after the last backward; None when any row may be non-zero."""
        return None

    def _store_grad(self, ctx, i, value):
        """Write (or, with ctx.accumulate, add) a computed gradient of weight i."""
        target = self._grads[i]
        if target is None:
            return
        if ctx.accumulate:
            target += value
        else:
            target[...] = value

    def get_weights(self):
        """Copies of the weights, in Keras order."""
        return [w.copy() for w in self._weights]

    def set_weights(self, weights):
        """Copy `weights` (a list of arrays with the shapes of get_weights()) into the layer."""
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(f"{type(self).__name__} '{self.name}': expected {len(self._weights)} weight arrays "
                             f"({', '.join(self._weight_names) or 'none'}), got {len(weights)}")
        values = [checked_weight_value(value, target, f"{type(self).__name__} '{self.name}': weight '{name}'")
                  for name, target, value in zip(self._weight_names, self._weights, weights)]
        for target, value in zip(self._weights, values):
            target[...] = value
        self._weights_changed()

    def count_params(self):
        """Number of scalars in this layer's weights."""
        return int(sum(w.size for w in self._weights))

    # ----- lifecycle -----------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch dimension first, may be None)."""
        self.input_shape = input_shape if is_shape_list(input_shape) else tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """Output shape (batch dimension first) for inputs of `input_shape`; a list of shapes for a
        layer with several outputs."""
        return tuple(input_shape)

    def compute_output_dtype(self, input_dtype):
        """The dtype of the output ('float32' for nearly every layer)."""
        return "float32"

    def weight_shapes(self, input_shape):
        """The shapes build(input_shape) would create, in get_weights order, without allocating them."""
        return []

    def compute_mask(self, x, mask):
        """The mask of the output, (batch, steps) booleans marking the steps that count, or None.

        A model whose graph has a layer that makes masks tracks them: each call reads its input's mask
        in ctx.mask, and this gives its output's. The default passes the mask on when
        supports_masking, else drops it (Keras's rules).
        """
        return mask if self.supports_masking else None

    @property
    def input(self):
        """The KerasTensor(s) the layer's first symbolic call read (a list for a merge layer), as Keras."""
        node = self._first_node("input")
        return node.inputs[0] if len(node.inputs) == 1 and not node.multi_input else list(node.inputs)

    @property
    def output(self):
        """The KerasTensor(s) the layer's first symbolic call made: what a feature extractor reads,
        fastnn.Model(model.input, model.get_layer('hidden').output)."""
        node = self._first_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def _first_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"The layer {self.name} has never been called on a symbolic tensor (fastnn.Input) "
                                 f"and thus has no defined {what}.")
        return self._inbound_nodes[0]

    @property
    def output_shape(self):
        if not self.built:
            raise RuntimeError(f"{type(self).__name__} '{self.name}' is not built yet, so it has no output shape")
        return self.compute_output_shape(self.input_shape)

    def forward(self, ctx, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward(ctx, x)")

    def backward(self, ctx, dy):
        raise NotImplementedError(f"{type(self).__name__} does not define backward(ctx, dy)")

    # ----- calling -------------------------------------------------------------------------------
    def __call__(self, inputs, training=None, **kwargs):
        """On KerasTensors: record the call in the graph and return the output KerasTensor(s).
        On arrays: build if needed and run forward once, returning new float32 arrays."""
        if kwargs:
            raise TypeError(f"{type(self).__name__} '{self.name}': unexpected call argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        multi = isinstance(inputs, (list, tuple))
        flat = list(inputs) if multi else [inputs]
        symbolic = [isinstance(t, KerasTensor) for t in flat]
        if any(symbolic):
            if not all(symbolic):
                raise TypeError(f"{type(self).__name__} '{self.name}': cannot mix symbolic tensors (from "
                                f"fastnn.Input) and arrays in one call")
            return self._call_symbolic(flat, multi, training)
        return self._call_eager(flat, multi, bool(training))

    def _call_symbolic(self, flat, multi, training):
        shapes = [t.shape for t in flat] if multi else flat[0].shape
        if not self.built:
            self.build(shapes)
        else:
            self._check_built_for(shapes)
        out = self.compute_output_shape(shapes)
        out_shapes = out if is_shape_list(out) else [tuple(out)]
        dtype = self.compute_output_dtype(flat[0].dtype)
        node = Node(self, flat, out_shapes, [dtype] * len(out_shapes), multi, training)
        return list(node.outputs) if len(node.outputs) > 1 else node.outputs[0]

    def _check_built_for(self, shapes):
        """A built layer called again (a shared layer) must see inputs like the ones it was built for."""
        built = self.input_shape
        if built is None or self.any_input_shape:
            return
        pairs = zip(built, shapes) if is_shape_list(built) and is_shape_list(shapes) else [(built, shapes)]
        for expected, got in pairs:
            if len(expected) != len(got) or any(e is not None and g is not None and e != g
                                                for e, g in zip(expected[1:], got[1:])):
                raise ValueError(f"{type(self).__name__} '{self.name}' was built for inputs of shape "
                                 f"{built}, but is called on shape {shapes}")

    def _call_eager(self, flat, multi, training):
        from ..ops._convert import as_float32

        if self.input_dtype == "float32":
            arrays = [np.ascontiguousarray(as_float32(x, f"{type(self).__name__} '{self.name}'")) for x in flat]
        else:  # token ids or strings: forward checks them
            arrays = [np.asarray(x) for x in flat]
        shapes = [(None,) + a.shape[1:] for a in arrays]
        if not self.built:
            self.build(shapes if multi else shapes[0])
        ctx = CallContext(training, getattr(self, "activation", None))
        y = self.forward(ctx, arrays if multi else arrays[0])
        if isinstance(y, (list, tuple)):
            return [_owned(v) for v in y]
        return _owned(y)

    # ----- config --------------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments, JSON-friendly; `from_config(get_config())` rebuilds the layer."""
        return {"name": self.name, "trainable": self.trainable, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _error(self, message):
        return ValueError(f"{type(self).__name__} '{self.name}' {message}")

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"
