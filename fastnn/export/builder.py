"""GraphBuilder: the ONNX nodes, initializers and value names of one export, and Call, what a converter
receives for one layer call."""
import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as error:  # the extra is optional; the rest of fastnn works without it
    raise ImportError("exporting to ONNX needs the onnx package: pip install 'fastnn[onnx]'") from error

from .registry import ExportError

__all__ = ["GraphBuilder", "Call", "ONNX_TYPES", "MIN_OPSET", "ML_DOMAIN"]

ONNX_TYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32,
              "string": TensorProto.STRING, "bool": TensorProto.BOOL}
# ReduceMax/ReduceMin take their axes as an input from opset 18 on; the converters write that form.
MIN_OPSET = 18
ML_DOMAIN = "ai.onnx.ml"
_ML_VERSION = 3  # LabelEncoder-2 (string and int64 keys)


class GraphBuilder:
    """Collects nodes and initializers with unique value names.

    Args:
        opset: the default-domain opset the model declares; converters may read it (`g.opset`).
    """

    def __init__(self, opset):
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.domains = {"": opset}
        self._used = set()
        self._constants = {}

    def fresh(self, hint):
        """A value name not used yet, built from hint."""
        base = "".join(c if c.isalnum() or c in "_/.:-" else "_" for c in hint) or "v"
        name, k = base, 1
        while name in self._used:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name)
        return name

    def reserve(self, name):
        """Claim an exact name (a graph input); ExportError if taken."""
        if name in self._used:
            raise ExportError(f"two model inputs or outputs are both named {name!r}; ONNX needs distinct names")
        self._used.add(name)
        return name

    def const(self, value, hint="const", dtype=np.float32):
        """An initializer holding value (cast to dtype; dtype=None keeps the array's own); equal small
        constants are stored once."""
        array = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key is not None and key in self._constants:
            return self._constants[key]
        name = self.fresh(hint)
        if array.dtype.kind in "UO":
            tensor = helper.make_tensor(name, TensorProto.STRING, array.shape,
                                        [s.encode("utf-8") for s in array.reshape(-1).tolist()])
        else:
            tensor = numpy_helper.from_array(np.array(array, order="C"), name)  # (ascontiguousarray makes 0-d 1-d)
        self.initializers.append(tensor)
        if key is not None:
            self._constants[key] = name
        return name

    def ints(self, values, hint="shape"):
        """An int64 initializer (shapes, axes, pads)."""
        return self.const(np.asarray(values, np.int64).reshape(-1), hint, np.int64)

    def op(self, op_type, inputs, hint=None, outputs=1, domain="", **attributes):
        """Append a node; returns its output name (a list when outputs > 1)."""
        if domain and domain not in self.domains:
            self.domains[domain] = _ML_VERSION
        names = [self.fresh(f"{hint or op_type.lower()}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh(f"node/{names[0]}"),
                                           domain=domain, **attributes))
        return names[0] if outputs == 1 else names

    def cast(self, x, dtype, hint=None):
        return self.op("Cast", [x], hint, to=ONNX_TYPES[dtype])

    def unsqueeze(self, x, axes, hint=None):
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")], hint)

    def squeeze(self, x, axes, hint=None):
        return self.op("Squeeze", [x, self.ints(axes, "axes")], hint)

    def reduce(self, op_type, x, axes, keepdims, hint=None):
        return self.op(op_type, [x, self.ints(axes, "axes")], hint, keepdims=int(keepdims))

    def model(self, name, inputs, outputs, producer_version):
        """The ModelProto with every node that an output depends on (converters may leave unused mask
        computations behind) and the initializers those nodes read."""
        needed = {v.name for v in outputs}
        kept = []
        for node in reversed(self.nodes):
            if any(o in needed for o in node.output):
                kept.append(node)
                needed.update(i for i in node.input if i)
        kept.reverse()
        initializers = [t for t in self.initializers if t.name in needed]
        graph = helper.make_graph(kept, name, inputs, outputs, initializers)
        opsets = [helper.make_opsetid(domain, version) for domain, version in self.domains.items()]
        return helper.make_model(graph, opset_imports=opsets, producer_name="fastnn", producer_version=producer_version,
                                 ir_version=helper.find_min_ir_version_for(opsets, True))


class Call:
    """One layer call, as a converter sees it.

    Attributes:
        g: the GraphBuilder.
        layer: the layer called.
        inputs: the value names it reads (one per input).
        shapes: their symbolic shapes (batch first, None where unknown).
        dtypes: their dtypes ('float32', 'int64', 'string').
        masks: per input, the name of its (batch, steps) bool mask, or None.
        training: the call's training flag (True when the graph calls it with training=True).
        output_shapes: the shapes of the call's outputs.
        output_mask: set by a converter that makes or combines masks; otherwise the layer passes its
            input's mask on when it supports masking (Keras's rule).
    """

    _UNSET = object()

    def __init__(self, g, layer, inputs, shapes, dtypes, masks, training, output_shapes):
        self.g = g
        self.layer = layer
        self.inputs = inputs
        self.shapes = shapes
        self.dtypes = dtypes
        self.masks = masks
        self.training = training
        self.output_shapes = output_shapes
        self.output_mask = Call._UNSET

    @property
    def x(self):
        return self.inputs[0]

    @property
    def mask(self):
        return self.masks[0]

    @property
    def shape(self):
        return self.shapes[0]

    def hint(self, suffix=""):
        return f"{self.layer.name}/{suffix}" if suffix else self.layer.name

    def error(self, reason):
        """An ExportError naming this layer."""
        return ExportError(f"{type(self.layer).__name__} '{self.layer.name}' cannot be exported to ONNX: {reason}")

    def inference_only(self):
        """Refuse a call the graph makes with training=True (its output would be random at predict)."""
        if self.training:
            raise self.error("the model calls it with training=True, so its predictions are random draws")

    def resolved_mask(self):
        if self.output_mask is not Call._UNSET:
            return self.output_mask
        return self.masks[0] if self.layer.supports_masking and len(self.masks) == 1 else None


def check_model(model_proto):
    """onnx's own checker with shape inference: a malformed graph fails here, before anything runs."""
    onnx.checker.check_model(model_proto, full_check=True)
