"""Model configs: functional and Sequential models to JSON-friendly dicts and back, clone_model, and the
weight shapes a config declares, worked out without building (so that a model file is checked before
anything it asks for is allocated).

A functional config lists the layers in model.layers order, each with the calls it makes in that
model ("inbound_nodes": the tensors each call reads, as [layer name, call index, output index]), then
the model's inputs and outputs the same way. Nested models appear as layers whose config is their own.
"""
from ..layers.base import get_layer_class, is_shape_list, normalize_shape

__all__ = ["layer_entry", "functional_config", "functional_from_config", "sequential_from_config",
           "model_from_config", "clone_model", "declared_weight_shapes"]

MODEL_CLASSES = ("Functional", "Sequential")

# What one layer of a model file may declare: a weight of at most 2**29 elements (2 GiB of float32, the
# largest tensor a file may hold) and an output of at most 2**28 elements (1 GiB) a row. No real model
# comes near either; a config asking for more (Dense(units=10**12), UpSampling2D(size=(10**5, 10**5)),
# Embedding(input_dim=10**12, ...)) is refused before anything is built or run.
MAX_DECLARED_WEIGHT_ELEMENTS = 1 << 29
MAX_DECLARED_ROW_ELEMENTS = 1 << 28


def layer_entry(layer):
    """{"class_name", "config"} of a layer (a nested model: 'Functional' or 'Sequential')."""
    class_name = type(layer).__name__
    if getattr(layer, "_is_model", False) and class_name != "Sequential":
        class_name = "Functional"
    return {"class_name": class_name, "config": layer.get_config()}


def _model_nodes(model):
    """{id(node): index of that call among the layer's calls in this model}."""
    counts, index = {}, {}
    nodes = [t.node for t in model._input_tensors] + list(model._graph_nodes())
    for node in sorted(nodes, key=lambda n: (id(n.layer), n.index)):
        index[id(node)] = counts.get(id(node.layer), 0)
        counts[id(node.layer)] = index[id(node)] + 1
    return index


def functional_config(model):
    index = _model_nodes(model)

    def ref(tensor):
        return [tensor.node.layer.name, index[id(tensor.node)], tensor.index]

    calls = {}
    for node in model._graph_nodes():
        calls.setdefault(id(node.layer), []).append(
            (index[id(node)], {"inputs": [ref(t) for t in node.inputs], "list": node.multi_input,
                               "training": node.training}))
    layers = []
    for layer in model.layers:
        entry = layer_entry(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [call for _, call in sorted(calls.get(id(layer), []), key=lambda c: c[0])]
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": [ref(t) for t in model._input_tensors],
            "output_layers": [ref(t) for t in model._output_tensors],
            "input_keys": model._input_keys, "output_keys": model._output_keys}


def _config_error(message):
    return ValueError(f"invalid model config: {message}")


def _check_functional(config):
    for key in ("layers", "input_layers", "output_layers"):
        if not isinstance(config.get(key), list):
            raise _config_error(f"a functional config needs a '{key}' list")
    names = set()
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or \
                not isinstance(entry.get("config"), dict) or not isinstance(entry.get("inbound_nodes"), list):
            raise _config_error(f"layers[{i}] must have a name, a config and inbound_nodes")
        if entry["name"] in names:
            raise _config_error(f"the layer name {entry['name']!r} appears twice")
        names.add(entry["name"])


def _ref(value, what):
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value[1:])):
        raise _config_error(f"{what} must be [layer name, call index, output index], got {value!r}")
    return tuple(value)


def _replay(config, make_layer, call):
    """Walk a functional config's calls in an order where every call's inputs exist.

    make_layer(entry) -> a layer-like object; call(layer, inputs, multi, training) -> list of outputs.
    Returns (layers by name, {(layer name, call index, output index): output}).
    """
    _check_functional(config)
    layers, pending = {}, []
    for entry in config["layers"]:
        layers[entry["name"]] = make_layer(entry)
        for k, node in enumerate(entry["inbound_nodes"]):
            pending.append((entry["name"], k, node))
    values = {}
    for name, layer in layers.items():
        if getattr(layer, "is_input", False) or type(layer).__name__ == "InputLayer":
            values[(name, 0, 0)] = layer.output
    while pending:
        progressed, waiting = False, []
        for name, k, node in pending:
            if not isinstance(node, dict) or not isinstance(node.get("inputs"), list) or not node["inputs"]:
                raise _config_error(f"call {k} of layer {name!r} must list its inputs")
            refs = [_ref(r, f"an input of layer {name!r}") for r in node["inputs"]]
            if any(r not in values for r in refs) or any((name, j, 0) not in values and j < k
                                                          for j in range(k)):
                waiting.append((name, k, node))
                continue
            training = node.get("training")
            if training not in (None, True, False):
                raise _config_error(f"call {k} of layer {name!r} has training={training!r}")
            multi = node.get("list", False)
            if not isinstance(multi, bool) or (multi and not _takes_list(layers[name])) or \
                    (not multi and len(refs) != 1):
                raise _config_error(f"call {k} of layer {name!r} passes {len(refs)} input(s) with list={multi!r}; "
                                    f"only merge layers and models take a list")
            outputs = call(layers[name], [values[r] for r in refs], multi, training)
            for i, out in enumerate(outputs):
                values[(name, k, i)] = out
            progressed = True
        if not progressed:
            raise _config_error(f"the calls of layers {sorted({p[0] for p in waiting})[:5]} read tensors that "
                                f"no call makes")
        pending = waiting
    return layers, values


def _takes_list(layer):
    """Whether a layer (or the dry run's stand-in) may be called on a list of tensors."""
    from ..layers.merging import Concatenate, _Merge
    from .model import Model

    return isinstance(layer, (_Merge, Concatenate, Model, tuple))


def _endpoints(config, values):
    ends = []
    for key in ("input_layers", "output_layers"):
        refs = [_ref(r, key) for r in config[key]]
        missing = [r for r in refs if r not in values]
        if missing or not refs:
            raise _config_error(f"{key} names tensors that no call makes: {missing}")
        ends.append([values[r] for r in refs])
    return ends


def _structured(items, keys, what):
    if keys is None:
        return items if len(items) > 1 else items[0]
    if not isinstance(keys, list) or len(keys) != len(items) or not all(isinstance(k, str) for k in keys):
        raise _config_error(f"{what} must be a list of {len(items)} names")
    return dict(zip(keys, items))


def _from_entry(entry):
    class_name = entry.get("class_name")
    if class_name in MODEL_CLASSES:
        return model_from_config({"class_name": class_name, "config": entry["config"]})
    return get_layer_class(class_name).from_config(entry["config"])


def functional_from_config(config):
    from .model import Model

    def call(layer, inputs, multi, training):
        out = layer(inputs if multi else inputs[0], training=training)
        return out if isinstance(out, list) else [out]

    _, values = _replay(config, _from_entry, call)
    inputs, outputs = _endpoints(config, values)
    return Model(_structured(inputs, config.get("input_keys"), "input_keys"),
                 _structured(outputs, config.get("output_keys"), "output_keys"),
                 name=config.get("name"), trainable=config.get("trainable", True))


def sequential_from_config(cls, config):
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise _config_error("a Sequential config needs a 'layers' list")
    model = cls(name=config.get("name"))
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise _config_error(f"layers[{i}] must be {{'class_name', 'config'}}")
        model.add(_from_entry(entry))
    build_shape = config.get("build_input_shape")
    if build_shape is not None and not model.built and model.layers:
        model.build(tuple(build_shape))
    if not config.get("trainable", True):
        model.trainable = False
    return model


def model_from_config(data):
    """A model from {"class_name": "Functional" | "Sequential", "config": ...}."""
    from .model import Model
    from .sequential import Sequential

    if not isinstance(data, dict) or data.get("class_name") not in MODEL_CLASSES + ("Model",) or \
            not isinstance(data.get("config"), dict):
        raise _config_error(f"expected {{'class_name': 'Functional' or 'Sequential', 'config': ...}}")
    if data["class_name"] == "Sequential":
        return Sequential.from_config(data["config"])
    return Model.from_config(data["config"])


def clone_model(model):
    """A new model of the same architecture with new layers and freshly initialised weights (as
    keras.models.clone_model); copy the weights with set_weights(model.get_weights()) if wanted."""
    return model_from_config(layer_entry(model))


# ----- weight shapes without building ---------------------------------------------------------------

def _elements(shape):
    count = 1
    for d in shape:
        count *= 1 if d is None else int(d)
    return count


def _check_declared_sizes(name, weight_shapes, output_shapes):
    """Refuse a layer whose weights or per-row outputs exceed the limits above (ValueError naming it)."""
    for shape in weight_shapes:
        if _elements(shape) > MAX_DECLARED_WEIGHT_ELEMENTS:
            raise _config_error(f"layer {name!r} declares a weight of shape {tuple(shape)}, more than the limit of "
                                f"{MAX_DECLARED_WEIGHT_ELEMENTS} elements")
    for shape in output_shapes:
        if _elements(tuple(shape)[1:]) > MAX_DECLARED_ROW_ELEMENTS:
            raise _config_error(f"layer {name!r} declares an output of shape {tuple(shape)}, more than the limit "
                                f"of {MAX_DECLARED_ROW_ELEMENTS} elements a row")


class _Shape:
    """A tensor of the dry run: only its shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)


class _DryInput:
    is_input = True

    def __init__(self, shape):
        self.output = _Shape(shape)


def declared_weight_shapes(data, input_shape=None):
    """(weight shapes in get_weights order, output shapes) that model_from_config(data) would build, found
    from the layers' weight_shapes and compute_output_shape alone (nothing is allocated). input_shape
    is what a Sequential without an input of its own is called on. Raises ValueError, TypeError,
    KeyError, ... for a config that does not describe a model."""
    class_name, config = data.get("class_name"), data.get("config")
    if class_name not in MODEL_CLASSES + ("Model",) or not isinstance(config, dict):
        raise _config_error("expected a Functional or Sequential model")
    if class_name == "Sequential":
        return _sequential_shapes(config, input_shape)
    weights_of = {}

    def make(entry):
        if entry.get("class_name") in MODEL_CLASSES:
            return ("model", entry)
        if entry.get("class_name") == "InputLayer":
            layer = get_layer_class("InputLayer").from_config({**entry["config"], "name": entry["name"]})
            return _DryInput(layer.batch_shape)
        return get_layer_class(entry["class_name"]).from_config({**entry["config"], "name": entry["name"]})

    def call(layer, inputs, multi, training):
        shapes = [t.shape for t in inputs]
        if isinstance(layer, tuple):
            weights, outputs = declared_weight_shapes(layer[1], shapes[0])
            weights_of.setdefault(id(layer), weights)
            return [_Shape(s) for s in outputs]
        in_shape = [tuple(s) for s in shapes] if multi else tuple(shapes[0])
        weights_of.setdefault(id(layer), [tuple(int(d) for d in s) for s in layer.weight_shapes(in_shape)])
        out = layer.compute_output_shape(in_shape)
        outputs = out if is_shape_list(out) else [out]
        _check_declared_sizes(layer.name, weights_of[id(layer)], outputs)
        return [_Shape(s) for s in outputs]

    layers, values = _replay(config, make, call)
    _, outputs = _endpoints(config, values)
    weights = [w for layer in layers.values() for w in weights_of.get(id(layer), [])]
    return weights, [t.shape for t in outputs]


def _sequential_shapes(config, input_shape):
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise _config_error("a Sequential config needs a 'layers' list")
    shape, weights = None, []
    if input_shape is not None:
        shape = (None,) + tuple(input_shape)[1:]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise _config_error(f"layers[{i}] must be {{'class_name', 'config'}}")
        if entry.get("class_name") in MODEL_CLASSES:
            inner_weights, inner_outputs = declared_weight_shapes(entry, shape)
            weights += inner_weights
            shape = inner_outputs[0]
            continue
        layer_config = dict(entry["config"])
        layer_config.setdefault("name", "unnamed")
        layer = get_layer_class(entry.get("class_name")).from_config(layer_config)
        if type(layer).__name__ == "InputLayer":
            shape = tuple(layer.batch_shape)
            continue
        if shape is None:
            shape = ((layer._batch_size_arg,) + tuple(layer._input_shape_arg)
                     if layer._input_shape_arg is not None else None)
            if shape is None and config.get("build_input_shape") is not None:
                shape = (None,) + normalize_shape(list(config["build_input_shape"])[1:], "build_input_shape")
            if shape is None:
                raise _config_error("the model does not declare its input shape")
        declared = [tuple(int(d) for d in s) for s in layer.weight_shapes(shape)]
        shape = tuple(layer.compute_output_shape(shape))
        _check_declared_sizes(layer.name, declared, [shape])
        weights += declared
    return weights, [shape]
