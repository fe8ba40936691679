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
import os

from . import _config, _fnnfile
from ._fnnfile import ModelFileError

__all__ = ["ModelFileError", "save_model", "load_model", "save_weights", "load_weights"]

# What a hostile config can make layer and model constructors raise; each becomes a ModelFileError.
_CONFIG_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, MemoryError)


# ---------------------------------------------------------------------------------------------- writing

def _weights_to_save(model):
    if not model.built:
        raise ValueError(f"cannot save model {model.name!r}: it is not built yet; call build() or fit() first")
    return model.get_weights()


def save_model(model, path):
    """Save a model's architecture, weights, compile settings and optimizer state to one .fnn file.

    Args:
        model: A built ``fastnn.Sequential``.
        path: Destination file (conventionally ``*.fnn``); replaced atomically if it exists.

    Example:
        >>> fastnn.saving.save_model(model, "digits.fnn")
        >>> restored = fastnn.load_model("digits.fnn")
    """
    weights = _weights_to_save(model)
    compiled = model.compiled
    _fnnfile.write_model_file(
        path,
        model={"class_name": type(model).__name__, "config": model.get_config()},
        compile_config=model.compile_config() if compiled else None,
        optimizer_iterations=int(model.optimizer.iterations) if compiled else None,
        weights=weights,
        optimizer_state=model.optimizer.state_arrays() if compiled else {},
    )


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


def _declared_input_shape(first_layer, config):
    """The input shape (batch first) Sequential.from_config(config) would build with, or None.

    As Sequential: an InputLayer first, else the first layer's input_shape/input_dim argument, else the
    config's build_input_shape.
    """
    from .layers import InputLayer
    from .layers.base import normalize_shape

    if isinstance(first_layer, InputLayer):
        return tuple(first_layer.batch_shape)
    if first_layer._input_shape_arg is not None:
        return (None,) + tuple(first_layer._input_shape_arg)
    build_shape = config.get("build_input_shape")
    return None if build_shape is None else (None,) + normalize_shape(list(build_shape)[1:], "build_input_shape")


def _check_declared_weights(config, weights, where):
    """Refuse a model config whose layers would create weights other than the file's, before building it.

    Each layer is only configured (cheap), never built: the shapes come from layer.weight_shapes and the
    running shape from compute_output_shape, so a config declaring gigabytes of weights is refused
    without allocating them.
    """
    from .layers import InputLayer, get_layer_class

    layer_entries = config["layers"]
    if not layer_entries:
        return
    try:
        layers = []
        for i, entry in enumerate(layer_entries):
            layer_config = entry.get("config")
            if not isinstance(layer_config, dict):
                raise ValueError(f"layers[{i}] must be {{'class_name', 'config'}}")
            if layer_config.get("name") is None:  # a generated name would use up the one the model's layer gets
                layer_config = {**layer_config, "name": "unnamed"}
            layers.append(get_layer_class(entry["class_name"]).from_config(layer_config))
        shape = _declared_input_shape(layers[0], config)
        body = [layer for layer in layers if not isinstance(layer, InputLayer)]
        if shape is None or not body:
            return  # nothing would be built; load_model refuses the config as not defining its input shape
        shape = (None,) + shape[1:]
        declared = []
        for layer in body:
            declared += [tuple(int(d) for d in s) for s in layer.weight_shapes(shape)]
            shape = tuple(layer.compute_output_shape(shape))
    except _CONFIG_ERRORS as e:
        raise ModelFileError(f"{where}: invalid model config: {e!r}") from None
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


def _build_and_compile(meta, weights, where):
    from . import layers, models

    config = meta["model"]["config"]
    layer_list = config.get("layers")
    if not isinstance(layer_list, list):
        raise ModelFileError(f"{where}: model config has no 'layers' list")
    for i, layer in enumerate(layer_list):
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
            raise ModelFileError(f"{where}: layers[{i}] must be an object with a string class_name")
        try:
            layers.get_layer_class(layer["class_name"])
        except (ValueError, KeyError, TypeError):
            raise ModelFileError(f"{where}: layers[{i}] has the unknown layer class "
                                 f"{layer['class_name']!r}") from None
    _check_declared_weights(config, weights, where)
    try:
        model = models.Sequential.from_config(config)
    except _CONFIG_ERRORS as e:
        raise ModelFileError(f"{where}: invalid model config: {e!r}") from None
    if meta["compile_config"] is not None:
        try:
            model.compile_from_config(meta["compile_config"])
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ModelFileError(f"{where}: invalid compile_config: {e}") from None
    return model


def _set_checked_weights(model, weights, where):
    _require_same_shapes([tuple(w.shape) for w in model.weights], weights, where)
    model.set_weights(weights)


def load_model(path):
    """Load a model saved by :func:`save_model`, ready to predict or to resume training exactly.

    Args:
        path: A .fnn file.

    Returns:
        The model, built, with its weights, compiled (if it was) and with its optimizer state restored.

    Raises:
        ModelFileError: If the file is not a valid fastnn model file or its contents do not fit together.
        OSError: If the file cannot be opened (e.g. it does not exist).

    Example:
        >>> model = fastnn.load_model("digits.fnn")
    """
    where = os.fspath(path)
    meta, weights, state = _fnnfile.read_model_file(path)
    model = _rebuild_model(meta, weights, where)
    if not model.built:
        raise ModelFileError(f"{where}: the model config does not define its input shape")
    _set_checked_weights(model, weights, where)
    if meta["compile_config"] is None:
        if state or meta["optimizer_iterations"] is not None:
            raise ModelFileError(f"{where}: optimizer state present in a file of an uncompiled model")
        return model
    if meta["optimizer_iterations"] is None:
        raise ModelFileError(f"{where}: optimizer_iterations missing for a compiled model")
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
