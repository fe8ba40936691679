"""The Layer base class, automatic layer names and the registry that saving uses to rebuild layers."""
import re

import numpy as np

__all__ = ["Layer", "register", "get_layer_class", "unique_name", "serialize_object", "deserialize_object"]

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
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown layer class {name!r}; registered layers: {', '.join(sorted(_REGISTRY))}") from None


def unique_name(prefix):
    """'dense', then 'dense_1', 'dense_2', ... for each prefix, as Keras names layers and models."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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


def checked_weight_value(value, target, what):
    """value as an array that can be copied into target, or an error naming `what` and both shapes."""
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {value.dtype}")
    if value.shape != target.shape:
        raise ValueError(f"{what} expected shape {target.shape}, got {value.shape}")
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


class Layer:
    """Base of every layer: config, weights (float32 arrays) and their gradients, forward/backward.

    Subclasses implement build(input_shape), forward(x, training), backward(dy), compute_output_shape and
    get_config. Weights made by add_weight are plain arrays until a model packs every weight of the
    model into one flat vector; then `_bind_weights` hands each layer views into that vector (and into the
    flat gradient vector), and `_weights_bound` lets the subclass refresh its attribute shortcuts.

    Args:
        name: unique name; generated from the class name when omitted.
        trainable: whether fit updates this layer's weights.
        dtype: only 'float32' (or None).
        input_shape: shape of one sample, for the first layer of a Sequential model.
        input_dim: shorthand for input_shape=(input_dim,).
    """

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None, **kwargs):
        cls_name = type(self).__name__
        if kwargs:
            raise TypeError(f"{cls_name}: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{cls_name}: only float32 is supported, got dtype={dtype!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{cls_name}: name must be a non-empty string, got {name!r}")
        self.name = name or unique_name(_snake_case(cls_name))
        self.trainable = bool(trainable)
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError(f"{cls_name} '{self.name}': give input_dim or input_shape, not both")
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else normalize_shape(input_shape, f"{cls_name} input_shape")
        self.built = False
        self.input_shape = None
        self._weights = []
        self._grads = []
        self._weight_names = []
        self._regularizers = []
        self._need_dx = True

    # ----- weights -------------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, regularizer=None):
        """Create a float32 weight (and its zeroed gradient) with `initializer`; returns the array."""
        value = np.ascontiguousarray(initializer(tuple(shape)), dtype=np.float32)
        if value.shape != tuple(shape):
            raise ValueError(f"{type(self).__name__} '{self.name}': initializer made shape {value.shape}, "
                             f"expected {tuple(shape)}")
        self._weights.append(value)
        self._grads.append(np.zeros_like(value))
        self._weight_names.append(name)
        self._regularizers.append(regularizer)
        return value

    def _bind_weights(self, weights, grads):
        """Switch to the given arrays (views into a model's flat vectors) for weights and gradients."""
        self._weights = list(weights)
        self._grads = list(grads)
        self._weights_bound()

    def _weights_bound(self):
        """Hook: refresh attribute shortcuts (kernel, bias, ...) after _bind_weights."""

    @property
    def weights(self):
        """The live weight arrays, in Keras order."""
        return list(self._weights)

    @property
    def grads(self):
        """The live gradient arrays written by backward, matching `weights`."""
        return list(self._grads)

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

    def count_params(self):
        """Number of scalars in this layer's weights."""
        return int(sum(w.size for w in self._weights))

    def regularization_penalty(self):
        """Sum of the weight regularizers' penalties (0.0 without regularizers)."""
        return sum(reg.penalty(w) for reg, w in zip(self._regularizers, self._weights) if reg is not None)

    def _add_regularizer_grads(self):
        for reg, w, g in zip(self._regularizers, self._weights, self._grads):
            if reg is not None:
                reg.add_grad(w, g)

    # ----- lifecycle -----------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch dimension first, may be None)."""
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """Output shape (batch dimension first) for inputs of `input_shape`."""
        return tuple(input_shape)

    def weight_shapes(self, input_shape):
        """The shapes build(input_shape) would create, in get_weights order, without allocating them."""
        return []

    @property
    def output_shape(self):
        if not self.built:
            raise RuntimeError(f"{type(self).__name__} '{self.name}' is not built yet, so it has no output shape")
        return self.compute_output_shape(self.input_shape)

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x, training=False):
        """Apply the layer to a batch (building it first if needed); returns a new float32 array."""
        from ..ops._convert import as_float32

        x = np.ascontiguousarray(as_float32(x, f"{type(self).__name__} '{self.name}'"))
        if not self.built:
            self.build((None,) + x.shape[1:])
        return np.array(self.forward(x, training), dtype=np.float32, copy=True)

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
