"""quantize_dynamic: a copy of a model whose Dense, convolution and recurrent layers compute with int8
weights."""
import warnings

from ..engine.serialization import MODEL_CLASSES, layer_entry, model_from_config
from ..layers.quantized import Int8Kernel
from ..layers.quantized_recurrent import QuantizedRecurrent

__all__ = ["quantize_dynamic"]

# The float layers quantize_dynamic replaces, and their int8 counterparts.
_QUANTIZED = {"Dense": "QuantizedDense", "Conv1D": "QuantizedConv1D", "Conv2D": "QuantizedConv2D",
              "LSTM": "QuantizedLSTM", "GRU": "QuantizedGRU"}

# The float config keys that only matter for training (or, groups, are always 1 here); the rest carry over.
_TRAINING_ONLY_KEYS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer", "groups")


def _quantizable(layer):
    """Whether a layer config is one quantize_dynamic replaces (grouped convolutions and GRUs with
    reset_after=False stay float32)."""
    config = layer["config"]
    return layer["class_name"] in _QUANTIZED and config.get("groups", 1) == 1 and config.get("reset_after", True)


def _wraps_quantizable(layer):
    """Whether a wrapper config (Bidirectional, TimeDistributed) holds a layer _quantizable would replace:
    the wrappers run their inner layers' float forward, so those stay float32."""
    inner = [layer["config"].get(key) for key in ("layer", "backward_layer")]
    return any(isinstance(entry, dict) and "config" in entry and _quantizable(entry) for entry in inner)


def _quantized_config(entry, reduce_range, kept_float):
    """The model config `entry` with every quantizable layer (nested models included) made its int8
    counterpart, in place; the names of wrappers whose inner layers stay float32 are appended to kept_float."""
    for layer in entry["config"]["layers"]:
        if layer["class_name"] in MODEL_CLASSES:
            _quantized_config(layer, reduce_range, kept_float)
        elif _wraps_quantizable(layer):
            kept_float.append(layer["config"]["name"])
        elif _quantizable(layer):
            config = {k: v for k, v in layer["config"].items() if k not in _TRAINING_ONLY_KEYS}
            config.update(reduce_range=reduce_range, trainable=False)
            layer["class_name"], layer["config"] = _QUANTIZED[layer["class_name"]], config
    return entry


def quantize_dynamic(model, reduce_range=False):
    """A copy of a built model for int8 inference: every Dense becomes a QuantizedDense, every Conv1D and
    Conv2D (groups=1) a QuantizedConv1D or QuantizedConv2D, every LSTM and GRU (reset_after=True) a
    QuantizedLSTM or QuantizedGRU.

    Weights are quantized once, symmetrically to int8 with one scale per output channel; activations are
    quantized at each call, to uint8 over their own range: per row for Dense, per output pixel's patch
    for convolutions; products are summed exactly in int32 and dequantized with the bias and the
    layer's activation in one epilogue. Every other layer is copied unchanged and stays float32, among
    them DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, grouped convolutions and the layers inside
    Bidirectional and TimeDistributed wrappers (a warning names those wrappers; model.summary()
    shows which: the int8 layers' types start with "Quantized"). The copy predicts, saves, loads and
    pickles like any model; it is not trainable.

    Args:
        model: a built fastnn.Model or Sequential (it is not changed).
        reduce_range: quantize activations to 7 bits rather than 8 (less precise; faster only on CPUs
            with AVX2 but without VNNI).

    Returns:
        The quantized model (not compiled).

    Raises:
        TypeError: model is not a fastnn model.
        ValueError: the model is not built, or a kernel to quantize holds NaN or infinity.

    Example:
        >>> model = fastnn.Sequential([fastnn.layers.Dense(4, activation="relu", input_dim=3)])
        >>> int8_model = fastnn.optimize.quantize_dynamic(model)
        >>> int8_model.predict(np.ones((2, 3), np.float32), verbose=0).shape
        (2, 4)
    """
    if not getattr(model, "_is_model", False):
        raise TypeError(f"quantize_dynamic: expected a fastnn model, got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"quantize_dynamic: model {model.name!r} is not built yet; build or fit it first")
    kept_float = []
    quantized = model_from_config(_quantized_config(layer_entry(model), bool(reduce_range), kept_float))
    if kept_float:
        warnings.warn(f"quantize_dynamic: the layers inside the wrappers {', '.join(kept_float)} stay float32 "
                      "(Bidirectional and TimeDistributed run their inner layers' float forward)", stacklevel=2)
    for source, target in zip(model._leaf_layers(), quantized._leaf_layers()):
        weights = source.get_weights()
        if isinstance(target, (Int8Kernel, QuantizedRecurrent)):
            weights = target.weights_from_float(weights)
        target.set_weights(weights)
    return quantized
