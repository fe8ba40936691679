"""Save and load whole models (with optimizer state) and bare weights.

The file formats and their byte-level checks live in :mod:`fastnn._fnnfile`: a .fnn model file is a zip of
``model.json`` (architecture, compile config, tensor manifest) and ``weights.safetensors`` (weights
``weights/<i>`` in ``model.get_weights()`` order, then optimizer state ``optimizer/<name>``);
``save_weights`` writes a plain safetensors file of ``weights/<i>`` only.

Loading executes nothing from the file: no pickle, no eval; layers come from the layer registry and
optimizers, losses and metrics from their own deserializers. Before a model is built, the weight shapes its
config declares are worked out without allocating anything and checked against the file's tensors, so a
file cannot make loading allocate more than the tensors it actually holds. Anything that does not fit
raises :class:`ModelFileError`.
"""
import functools
import inspect
import math
import os
import tempfile
import warnings

from . import _config, _fnnfile
from ._fnnfile import ModelFileError

__all__ = ["ModelFileError", "save_model", "load_model", "save_weights", "load_weights", "model_to_bytes",
           "model_from_bytes"]

# What a hostile config can make layer and model constructors raise; each becomes a ModelFileError.
_CONFIG_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, MemoryError)


# ---------------------------------------------------------------------------------------------- writing

def _weights_to_save(model):
    if not model.built:
        raise ValueError(f"cannot save model {model.name!r}: it is not built yet; call build() or fit() first")
    return model.get_weights()


def _reference_statistics(model, reference_data):
    """ReferenceStatistics of reference_data (checked against the model's inputs), else the model's own."""
    from .drift import ReferenceStatistics
    from .engine import data

    if reference_data is None:
        return model.reference_statistics
    numeric = [t.dtype != "string" for t in model.inputs]
    if not any(numeric) or any(None in tuple(t.shape[1:]) for t, n in zip(model.inputs, numeric) if n):
        raise ValueError(f"save: reference_data needs numeric inputs of fixed shapes (string inputs are not "
                         f"summarised); model {model.name!r} has inputs {[(t.shape, t.dtype) for t in model.inputs]}")
    arrays = data.as_inputs(model, reference_data, "save(reference_data=...)")
    return ReferenceStatistics.of([a for a, n in zip(arrays, numeric) if n])


def save_model(model, path, reference_data=None):
    """Save a model's architecture, weights, compile settings and optimizer state to one .fnn file.

    Args:
        model: A built model (Sequential or functional).
        path: Destination file (conventionally ``*.fnn``); replaced atomically if it exists.
        reference_data: Training inputs (as for predict) whose per-feature statistics are stored for drift
            monitoring by ``python -m fastnn serve`` (see fastnn.drift; string inputs are skipped); they become
            ``model.reference_statistics``. Without it, the model's current reference statistics (from an
            earlier save or load) are stored, if it has any.

    Example:
        >>> fastnn.saving.save_model(model, "digits.fnn", reference_data=x_train)
        >>> restored = fastnn.load_model("digits.fnn")
    """
    from .engine.serialization import layer_entry

    weights = _weights_to_save(model)
    reference = _reference_statistics(model, reference_data)
    compiled = model.compiled
    if compiled:
        model._ensure_packed()
    _fnnfile.write_model_file(
        path,
        model=layer_entry(model),
        compile_config=model.compile_config() if compiled else None,
        optimizer_iterations=int(model.optimizer.iterations) if compiled else None,
        weights=weights,
        optimizer_state=model.optimizer.state_arrays() if compiled else {},
        reference_statistics=None if reference is None else reference.to_dict(),
    )
    model.reference_statistics = reference


def save_weights(model, path):
    """Save only a model's weights, as a plain safetensors file with tensors ``weights/0``, ``weights/1``, ...

    Args:
        model: A built model.
        path: Destination file (conventionally ``*.safetensors``); replaced atomically if it exists.
    """
    _fnnfile.write_weights_file(path, _weights_to_save(model))


# ---------------------------------------------------------------------------------------------- reading

def _require_same_shapes(expected, weights, where):
    got = [tuple(w.shape) for w in weights]
    if got != expected:
        raise ModelFileError(f"{where}: weight shapes {got} do not match the model's {expected}")


def _invalid_config(where, error):
    """ModelFileError for a config the builder refused; the builder's own messages already say what."""
    text = str(error)
    if not text.startswith("invalid model config"):
        text = f"invalid model config: {type(error).__name__}: {text}"
    return ModelFileError(f"{where}: {text}")


def _check_declared_weights(model_entry, weights, where):
    """Refuse a model config whose layers would create weights other than the file's, before building it.

    Each layer is only configured (cheap), never built: the shapes come from layer.weight_shapes and the
    running shape from compute_output_shape, so a config declaring gigabytes of weights is refused
    without allocating them.
    """
    from .engine.serialization import declared_weight_shapes

    try:
        declared, _ = declared_weight_shapes(model_entry)
    except _CONFIG_ERRORS as e:
        raise _invalid_config(where, e) from None
    _require_same_shapes(declared, weights, where)


def _rebuild_model(meta, weights, where):
    """Build (and compile) the model described by a validated model.json, or raise ModelFileError.

    The fresh weights drawn while building are overwritten right after, so the draws are undone: loading
    leaves fastnn's random stream (shuffling, dropout) where it was, and a resumed fit repeats exactly.
    """
    generator = _config.generator()
    state = generator.bit_generator.state
    try:
        return _build_and_compile(meta, weights, where)
    finally:
        generator.bit_generator.state = state


def _check_layer_classes(model_entry, where):
    """Every class_name in the config (nested models included) names a registered layer or a model kind."""
    from .engine.serialization import MODEL_CLASSES
    from .layers import get_layer_class

    stack = [model_entry]
    while stack:
        entry = stack.pop()
        layers = entry.get("config", {}).get("layers") if isinstance(entry.get("config"), dict) else None
        if not isinstance(layers, list):
            raise ModelFileError(f"{where}: model config has no 'layers' list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
                raise ModelFileError(f"{where}: layers[{i}] must be an object with a string class_name")
            if layer["class_name"] in MODEL_CLASSES:
                stack.append(layer)
                continue
            try:
                cls = get_layer_class(layer["class_name"])
            except ValueError:
                raise ModelFileError(f"{where}: layers[{i}] has the unknown layer class "
                                     f"{layer['class_name']!r}") from None
            config = layer.get("config")
            flags = [name for name in _flag_arguments(cls)
                     if isinstance(config, dict) and name in config and not isinstance(config[name], bool)]
            if flags:
                raise ModelFileError(f"{where}: layers[{i}] ({layer['class_name']}) gives {flags[0]}="
                                     f"{config[flags[0]]!r}; expected true or false")


@functools.lru_cache(maxsize=None)
def _flag_arguments(cls):
    """The constructor arguments of a layer class (and its bases) whose default is a bool: a file must
    give them as true or false, not a string or a list that Python would read as truthy."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names.update(name for name, p in inspect.signature(klass.__init__).parameters.items()
                         if isinstance(p.default, bool))
    return tuple(sorted(names))


def _build_and_compile(meta, weights, where):
    from .engine.serialization import model_from_config

    _check_layer_classes(meta["model"], where)
    _check_declared_weights(meta["model"], weights, where)
    try:
        model = model_from_config(meta["model"])
    except _CONFIG_ERRORS as e:
        raise _invalid_config(where, e) from None
    if meta["compile_config"] is not None:
        try:
            model.compile_from_config(meta["compile_config"])
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ModelFileError(f"{where}: invalid compile_config: {e}") from None
    return model


def _set_checked_weights(model, weights, where):
    _require_same_shapes([tuple(w.shape) for w in model.weights], weights, where)
    try:
        model.set_weights(weights)
    except ValueError as e:  # values the layer refuses (an int8 kernel holding NaN): the file is corrupt
        raise ModelFileError(f"{where}: {e}") from None


def _layers_in_file_order(model, config):
    """The model's leaf layers holding weights, in the order its file lists them: its config's layer order.

    Files written before fastnn took Keras's order for functional models (deepest layers first) list
    their layers, and so their weights, in the order of the layers' first calls.
    """
    leaves = []
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            continue
        layer = model.get_layer(entry["config"]["name"])
        if getattr(layer, "_is_model", False):
            leaves += _layers_in_file_order(layer, entry["config"])
        elif layer._weights:
            leaves.append(layer)
    return leaves


def _in_model_order(model, weights, meta):
    """(the file's weights in model.weights order, whether that order differs from the file's)."""
    try:
        file_order = _layers_in_file_order(model, meta["model"]["config"])
    except (ValueError, KeyError, TypeError):  # names the rebuilt layers do not carry: nothing to reorder by
        return weights, False
    model_order = [layer for layer in model._leaf_layers() if layer._weights]
    if [id(layer) for layer in file_order] == [id(layer) for layer in model_order]:
        return weights, False
    by_layer, position = {}, 0
    for layer in file_order:
        by_layer[id(layer)] = weights[position:position + len(layer._weights)]
        position += len(layer._weights)
    return [w for layer in model_order for w in by_layer[id(layer)]], True


def _checked_reference(meta, model, where):
    """The file's ReferenceStatistics (None without), with one summary per flattened numeric input feature."""
    from .drift import ReferenceStatistics

    if "reference_statistics" not in meta:
        return None
    reference = ReferenceStatistics.from_dict(meta["reference_statistics"], where)
    shapes = [tuple(t.shape[1:]) for t in model.inputs if t.dtype != "string"]
    if any(None in shape for shape in shapes) or sum(math.prod(s) for s in shapes) != len(reference.features):
        raise ModelFileError(f"{where}: reference_statistics summarise {len(reference.features)} features, but "
                             f"the model's numeric inputs have shapes {shapes}")
    return reference


def load_model(path, compile=True, safe_mode=True):
    """Load a model saved by :func:`save_model`, ready to predict or to resume training exactly.

    Args:
        path: A .fnn file.
        compile: If False, the model comes back uncompiled, without its optimizer state (Keras's
            ``compile=False``); compile it again to train.
        safe_mode: Taken for Keras's signature. Loading is always safe: a .fnn file holds no code, so
            there is nothing that safe_mode=False could allow.

    Returns:
        The model, built, with its weights, compiled (if it was, and compile is true) and with its
        optimizer state restored; ``model.reference_statistics`` holds the file's reference statistics
        (None if it has none).

    Raises:
        ModelFileError: If the file is not a valid fastnn model file or its contents do not fit together.
        OSError: If the file cannot be opened (e.g. it does not exist).

    Example:
        >>> model = fastnn.load_model("digits.fnn")
    """
    where = os.fspath(path)
    for name, flag in (("compile", compile), ("safe_mode", safe_mode)):
        if not isinstance(flag, bool):
            raise TypeError(f"load_model: {name} must be True or False, got {flag!r}")
    meta, weights, state = _fnnfile.read_model_file(path)
    if not compile:
        meta = dict(meta, compile_config=None, optimizer_iterations=None)
        state = {}
    model = _rebuild_model(meta, weights, where)
    if not model.built:
        raise ModelFileError(f"{where}: the model config does not define its input shape")
    weights, reordered = _in_model_order(model, weights, meta)
    _set_checked_weights(model, weights, where)
    model.reference_statistics = _checked_reference(meta, model, where)
    if model.compiled:
        model._ensure_packed()
    if meta["compile_config"] is None:
        if state or meta["optimizer_iterations"] is not None:
            raise ModelFileError(f"{where}: optimizer state present in a file of an uncompiled model")
        return model
    if meta["optimizer_iterations"] is None:
        raise ModelFileError(f"{where}: optimizer_iterations missing for a compiled model")
    if reordered and state:  # its flat slots follow the file's layer order; moving them is not worth the code
        warnings.warn(f"{where} was saved by an older fastnn in another layer order: its weights are loaded, "
                      f"its optimizer state is not (training restarts the optimizer)", stacklevel=2)
        return model
    try:
        model.optimizer.set_state(meta["optimizer_iterations"], state)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{where}: optimizer state does not fit the optimizer: {e}") from None
    return model


def load_weights(model, path):
    """Load weights saved by :func:`save_weights` (or the weights of a .fnn model file) into a built model.

    Args:
        model: A built model with the same architecture as the saved one.
        path: A .safetensors file written by ``save_weights``, or a .fnn file written by ``save_model``.

    Raises:
        ModelFileError: If the file is invalid or its tensors do not match the model's weights.
    """
    if not model.built:
        raise ValueError(f"load_weights: model {model.name!r} is not built yet; build it before loading weights")
    _set_checked_weights(model, _fnnfile.read_weights_file(path), os.fspath(path))


def model_to_bytes(model):
    """The bytes of the .fnn file of a built model (how models pickle and deep-copy)."""
    with tempfile.TemporaryDirectory(prefix="fastnn-") as folder:
        path = os.path.join(folder, "model.fnn")
        save_model(model, path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data):
    """The model whose .fnn file these bytes are, checked as load_model checks a file."""
    with tempfile.TemporaryDirectory(prefix="fastnn-") as folder:
        path = os.path.join(folder, "model.fnn")
        with open(path, "wb") as f:
            f.write(data)
        return load_model(path)
