"""fold_batchnorm: BatchNormalization folded into the layer before it."""
import copy

from .. import ops
from ..engine.serialization import layer_entry, model_from_config

__all__ = ["fold_batchnorm", "for_inference"]

# The layers a BatchNormalization can fold into, and where their kernel keeps its output channels
# (the `kind` of ops.batch_norm_fold); SeparableConv2D folds into its pointwise kernel.
_FOLD_KINDS = {"Dense": "dense", "Conv1D": "conv", "Conv2D": "conv", "DepthwiseConv2D": "depthwise",
               "Conv2DTranspose": "conv_transpose", "SeparableConv2D": "conv"}


def _foldable(producer, bn):
    """Whether bn normalizes the producer's output channels (its last axis; a BN over another axis mixes
    positions the kernel does not own, so it stays) with nothing nonlinear between them."""
    rank = len(bn.input_shape)
    return (type(producer).__name__ in _FOLD_KINDS and producer.activation.name == "linear"
            and len(producer._inbound_nodes) == 1 and len(bn._inbound_nodes) == 1
            and bn.channel_axis(rank) == rank - 1)


def _sequential_pairs(entries, layers):
    pairs = []
    for before, after in zip(entries, entries[1:]):
        producer, bn = layers.get(before["config"].get("name")), layers.get(after["config"].get("name"))
        if type(bn).__name__ == "BatchNormalization" and producer is not None and _foldable(producer, bn):
            pairs.append((producer, bn))
    return pairs


def _functional_pairs(config, layers):
    """(producer, BN) where the BN is the only reader of the producer's output, which is no model output."""
    readers = {}
    for entry in config["layers"]:
        for node in entry["inbound_nodes"]:
            for ref in node["inputs"]:
                readers.setdefault(ref[0], []).append(entry["name"])
    outputs = {ref[0] for ref in config["output_layers"]}
    pairs = []
    for entry in config["layers"]:
        bn = layers.get(entry["name"])
        if type(bn).__name__ != "BatchNormalization" or len(entry["inbound_nodes"]) != 1:
            continue
        source = entry["inbound_nodes"][0]["inputs"][0][0]
        producer = layers.get(source)
        if producer is not None and readers.get(source) == [bn.name] and source not in outputs \
                and _foldable(producer, bn):
            pairs.append((producer, bn))
    return pairs


def _rewire(config, folded):
    """Drop the folded BNs from a functional config; what read a BN's output reads its producer's."""
    config["layers"] = [entry for entry in config["layers"] if entry["name"] not in folded]

    def swap(ref):
        return [folded[ref[0]], ref[1], ref[2]] if ref[0] in folded else ref

    for entry in config["layers"]:
        for node in entry["inbound_nodes"]:
            node["inputs"] = [swap(ref) for ref in node["inputs"]]
    config["output_layers"] = [swap(ref) for ref in config["output_layers"]]


def _folded_weights(producer, bn):
    """The producer's weights with the inference normalization folded in (its bias made if it had none)."""
    weights = producer.get_weights()
    kind = _FOLD_KINDS[type(producer).__name__]
    k = 1 if type(producer).__name__ == "SeparableConv2D" else 0
    bias = weights[k + 1] if producer.use_bias else None
    kernel, bias = ops.batch_norm_fold(weights[k], bias, bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance,
                                       epsilon=bn.epsilon, kind=kind)
    return weights[:k] + [kernel, bias]


def fold_batchnorm(model):
    """A new model computing what `model` computes in inference, with every BatchNormalization that
    directly follows a Dense or convolution layer (with no activation between them, the only reader
    of its output) folded into that layer's kernel and bias.

    The normalization in inference is an affine map per channel, gamma / sqrt(moving_variance +
    epsilon) * (z - moving_mean) + beta, so it folds into the weights that make z: the folded model
    runs one layer less per pair, and its predictions agree with the original's within float32
    rounding (about 1e-6 relative). The original model is not changed; the new one is not compiled
    (it is meant for predict; compile it to train or evaluate). Nested models are kept as they are.

    Args:
        model: a built fastnn.Sequential or functional fastnn.Model.

    Returns:
        The folded model (a new model even when nothing folds).

    Example:
        >>> fast = fastnn.optimize.fold_batchnorm(model)
        >>> np.allclose(fast.predict(x), model.predict(x), atol=1e-5)
        True
    """
    if not getattr(model, "_is_model", False) or not model.built:
        raise ValueError(f"fold_batchnorm: expected a built fastnn model, got {type(model).__name__}")
    data = copy.deepcopy(layer_entry(model))
    config = data["config"]
    layers = {layer.name: layer for layer in model.layers}
    sequential = data["class_name"] == "Sequential"
    pairs = _sequential_pairs(config["layers"], layers) if sequential else _functional_pairs(config, layers)
    folded = {bn.name: producer.name for producer, bn in pairs}
    producers = {producer.name: bn for producer, bn in pairs}
    if sequential:
        config["layers"] = [e for e in config["layers"] if e["config"].get("name") not in folded]
    else:
        _rewire(config, folded)
    for entry in config["layers"]:
        if entry["config"].get("name") in producers:
            entry["config"]["use_bias"] = True
    new = model_from_config(data)
    if not new.built:
        new.build(model.input_shape)
    for layer in new.layers:
        old = layers[layer.name]
        bn = producers.get(layer.name)
        layer.set_weights(old.get_weights() if bn is None else _folded_weights(old, bn))
    return new


def for_inference(model):
    """`model` with its foldable BatchNormalization layers folded (export and serving run this), or
    `model` itself when none folds; the reference statistics for drift monitoring carry over."""
    layers = {layer.name: layer for layer in model.layers}
    data = layer_entry(model)
    config = data["config"]
    if data["class_name"] == "Sequential":
        pairs = _sequential_pairs(config["layers"], layers)
    else:
        pairs = _functional_pairs(config, layers)
    if not pairs:
        return model
    folded = fold_batchnorm(model)
    folded.reference_statistics = model.reference_statistics
    return folded
