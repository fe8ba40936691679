"""Sequential: a linear stack of layers, run by the same engine as any functional Model.

Once the input shape is known (an Input first, a first layer with input_shape/input_dim, or the first
data seen), each added layer is called on the previous output, so adding n layers costs n calls,
not n^2.
"""
from ..layers.base import Layer, unique_name
from ..layers.core import InputLayer
from .forksafe import set_fork_safe_lock
from .model import Model
from .tensor import KerasTensor

__all__ = ["Sequential"]


def _built_single_input_model(layer):
    return getattr(layer, "_is_model", False) and layer.built and len(layer._input_tensors) == 1


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (fastnn.Input(...) or an InputLayer may come first).
        trainable: whether fit trains its weights.
        name: model name; 'sequential', 'sequential_1', ... when omitted.

    Example:
        >>> model = Sequential([Input(shape=(8,)), Dense(10, activation='relu'), Dense(1, activation='sigmoid')])
        >>> model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
        >>> history = model.fit(x, y, epochs=10, batch_size=32)
    """

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, name=name or unique_name("sequential"))
        self._init_model_state(True)
        self._stack = []
        self._names = set()
        self._input_layer = None
        self._output = None
        self._nodes = []
        self._input_tensors, self._output_tensors = [], []
        self._input_structure = self._output_structure = "single"
        self._input_keys = self._output_keys = None
        self.input_names, self.output_names = [], []
        self.built = False
        set_fork_safe_lock(self, "_build_lock")
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    @property
    def layers(self):
        """The layers, without the input (as Keras)."""
        return list(self._stack)

    @property
    def _model_layers(self):
        return self._stack

    def add(self, layer):
        """Append a layer; once the input shape is known it is built on the previous layer's output."""
        if isinstance(layer, KerasTensor):
            if layer.node.inputs:
                raise ValueError(f"Sequential '{self.name}': only a fastnn.Input tensor can be added, got the output "
                                 f"of '{layer.layer.name}'")
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an Input can only be the first element of the model")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential '{self.name}': add() expects a fastnn layer, got {type(layer).__name__}")
        if layer.name in self._names:
            raise ValueError(f"Sequential '{self.name}': all layers need unique names; '{layer.name}' is already "
                             f"in the model")
        if not self._stack and self._input_layer is None and layer._input_shape_arg is not None:
            self._input_layer = InputLayer(shape=layer._input_shape_arg, batch_size=layer._batch_size_arg,
                                           dtype=layer.input_dtype)
        elif not self._stack and self._input_layer is None and _built_single_input_model(layer):
            # Sequential([pretrained_base, head]): Keras builds at once from the base's input shape
            given = layer._input_tensors[0]
            self._input_layer = InputLayer(batch_shape=given.shape, dtype=given.dtype)
        self._stack.append(layer)
        self._names.add(layer.name)
        self._version += 1
        if self._input_layer is None:
            return
        if self._output is None:
            self._build_chain()
        else:
            self._append_call(layer)

    def pop(self):
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._stack.pop()
        self._names.discard(layer.name)
        self._version += 1
        self._output = None
        self.built = False
        if self._stack and self._input_layer is not None:
            self._build_chain()
        return layer

    def build(self, input_shape=None):
        """Build every layer for inputs of `input_shape` (batch first)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape (or an Input layer)")
        else:
            dtype = self._stack[0].input_dtype if self._stack else None
            self._input_layer = InputLayer(batch_shape=(None,) + tuple(input_shape)[1:], dtype=dtype)
        self._build_chain()

    def _build_chain(self):
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}' has no layers to build")
        self._output = self._input_layer.output
        self._nodes = []
        for layer in self._stack:
            self._append_call(layer)

    def _append_call(self, layer):
        output = layer(self._output)
        if not isinstance(output, KerasTensor):
            raise ValueError(f"Sequential '{self.name}': every layer must have one output; "
                             f"{type(layer).__name__} '{layer.name}' has {len(output)}")
        self._nodes.append(output.node)
        self._output = output
        self._input_structure, self._input_tensors, self._input_keys = "single", [self._input_layer.output], None
        self._output_structure, self._output_tensors, self._output_keys = "single", [output], None
        self.input_names = [self._input_layer.name]
        self.output_names = [layer.name]
        self.input_shape = self._input_layer.output.shape
        self.built = True
        self._version += 1

    def _graph_nodes(self):
        return self._nodes

    def _call_symbolic(self, flat, multi, training):
        if not self.built:
            self.build(flat[0].shape)
        return super()._call_symbolic(flat, multi, training)

    def _input_specs(self, x):
        # Without an Input the first call builds the model. Calls wait for one another here, so that
        # first predicts from several threads build it once, and none reads it part way through (built
        # turns true at its first layer); a build that fails is undone, leaving the model unbuilt.
        with self._build_lock:
            if not self.built:
                self._build_for(x)
        return super()._input_specs(x)

    def _build_for(self, x):
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}' has no layers")
        shape = getattr(x, "shape", None)
        if shape is None:
            import numpy as np

            shape = np.shape(x)
        if not shape:
            raise ValueError(f"Sequential '{self.name}': x must have a batch dimension, got a scalar")
        try:
            self.build((None,) + tuple(shape)[1:])
            if self.compiled:
                self._resolve_compile()
        except BaseException:
            self._input_layer, self._output, self._nodes = None, None, []
            self._input_tensors, self._output_tensors = [], []
            self.built = False
            self._version += 1
            raise

    def _input_shape_error(self, name, expected, got):
        first = self._stack[0]
        if hasattr(first, "input_dim") and len(got) == len(expected):
            return ValueError(f"{type(first).__name__} '{first.name}' expected input with last dimension "
                              f"{expected[-1]}, got shape {tuple(got)}")
        return ValueError(f"{type(first).__name__} '{first.name}' expected input of shape {tuple(expected)}, "
                          f"got shape {tuple(got)}")

    def get_config(self):
        """{"name", "trainable", "layers": [{"class_name", "config"}, ...], "build_input_shape"}."""
        from .serialization import layer_entry

        layers = []
        if self._input_layer is not None:
            layers.append({"class_name": "InputLayer", "config": self._input_layer.get_config()})
        layers += [layer_entry(layer) for layer in self._stack]
        build_shape = list(self.input_shape) if self.built else None
        return {"name": self.name, "trainable": self.trainable, "layers": layers, "build_input_shape": build_shape}

    @classmethod
    def from_config(cls, config):
        """Rebuild a model (architecture only, fresh weights) from get_config()."""
        from .serialization import sequential_from_config

        return sequential_from_config(cls, config)

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self._stack)}, built={self.built}>"
