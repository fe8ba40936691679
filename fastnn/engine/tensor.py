"""Symbolic tensors and the layer calls that connect them (the functional API's graph).

Calling a layer on KerasTensors records a Node (the layer, the tensors it read, the tensors it made)
and returns new KerasTensors that remember their node. A model walks these links back from its
outputs once, when it is built.
"""
__all__ = ["KerasTensor", "Node", "DTYPES", "canonical_dtype"]

# Input dtypes a model accepts: float inputs run as float32, integer ones (token ids) as int64.
DTYPES = ("float32", "int64", "string")
_DTYPE_ALIASES = {None: "float32", "float32": "float32", "float16": "float32", "float64": "float32",
                  "float": "float32", "int32": "int64", "int64": "int64", "int": "int64", "uint8": "int64",
                  "string": "string", "str": "string"}


def canonical_dtype(dtype, what):
    """The dtype fastnn runs a tensor as: 'float32', 'int64' or 'string'."""
    name = getattr(dtype, "name", dtype)
    if isinstance(dtype, type):
        name = dtype.__name__
    canonical = _DTYPE_ALIASES.get(name) if isinstance(name, (str, type(None))) else None
    if canonical is None:
        raise ValueError(f"{what}: unsupported dtype {dtype!r}; expected one of float32, int32, int64, string")
    return canonical


class KerasTensor:
    """A symbolic tensor: the shape (batch first, None where unknown) and dtype of a value a model
    will compute, and the layer call that computes it.

    Attributes:
        shape: tuple, batch dimension first.
        dtype: 'float32', 'int64' or 'string'.
        name: a readable name ('dense/output_0' or the Input's name).
    """

    def __init__(self, shape, dtype="float32", name=None, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def layer(self):
        """The layer whose call made this tensor."""
        return self.node.layer

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic: it has no values until a model built from it is called "
                        f"on data (fastnn.Model(inputs, outputs)(x) or predict)")

    def __bool__(self):
        raise TypeError(f"{self!r} is symbolic and has no truth value")


class Node:
    """One call of a layer on symbolic tensors.

    Attributes:
        layer: the layer called.
        inputs: the KerasTensors it read, flattened (one, or several for merge layers).
        outputs: the KerasTensors it made.
        multi_input: whether the layer was called on a list (merge layers) rather than one tensor.
        training: the call's `training=` argument (None: follow the model's mode).
    """

    def __init__(self, layer, inputs, output_shapes, output_dtypes, multi_input, training=None):
        self.layer = layer
        self.inputs = list(inputs)
        self.multi_input = multi_input
        self.training = training
        self.index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        count = len(output_shapes)
        self.outputs = [KerasTensor(shape, dtype, f"{layer.name}/output_{i}" if count > 1 else layer.name,
                                    self, i)
                        for i, (shape, dtype) in enumerate(zip(output_shapes, output_dtypes))]

    @property
    def multi_output(self):
        return len(self.outputs) > 1
