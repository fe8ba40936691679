"""Converters of the preprocessing layers. Scaling, imputation, bucketing and encodings are plain ONNX
ops; lookups are LabelEncoder tables of the ai.onnx.ml domain, which ONNX Runtime implements; image
augmentation is the identity at inference. What ONNX has no op for (FNV-1a hashing) is refused by name."""
import numpy as np

from ..layers import (CategoryEncoding, Discretization, Hashing, Imputation, IntegerLookup, Normalization,
                      RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
                      Rescaling, StringLookup)
from ..layers.preprocessing.scaling import EPSILON
from .builder import ML_DOMAIN
from .core import float_input, per_axis_constant
from .registry import converts, samples


@converts(Normalization)
def normalization(call):
    """(x - mean) / max(sqrt(variance), 1e-7), or x * that + mean with invert, per kept axis."""
    layer, g = call.layer, call.g
    rank = len(call.shape)
    kept = sorted(a % rank for a in layer.axis)
    std = np.maximum(np.sqrt(layer.variance.astype(np.float32)), np.float32(EPSILON))
    mean = g.const(per_axis_constant(layer.mean, rank, kept), call.hint("mean"))
    std = g.const(per_axis_constant(std, rank, kept), call.hint("std"))
    x = float_input(call)
    if layer.invert:
        return g.op("Add", [g.op("Mul", [x, std]), mean], call.hint())
    return g.op("Div", [g.op("Sub", [x, mean]), std], call.hint())


@converts(Rescaling)
def rescaling(call):
    layer, g = call.layer, call.g
    scaled = g.op("Mul", [float_input(call), g.const(layer.scale, call.hint("scale"))])
    return g.op("Add", [scaled, g.const(layer.offset, call.hint("offset"))], call.hint())


@converts(Imputation)
def imputation(call):
    """NaN -> the feature's statistic."""
    g = call.g
    return g.op("Where", [g.op("IsNaN", [call.x]), g.const(call.layer.statistics, call.hint("fill")), call.x],
                call.hint())


def encode(call, indices, mode, depth, shape=None):
    """int64 indices (shaped as `shape`, by default the call's input) as one_hot / multi_hot / count
    float32 columns; a negative index (a masked token) sets none: it is moved to `depth`, where OneHot
    writes zeros."""
    g = call.g
    shape = call.shape if shape is None else shape
    indices = g.op("Where", [g.op("Less", [indices, g.ints(0)]), g.ints(depth), indices])
    if mode == "one_hot" and len(shape) > 1 and shape[-1] == 1:
        indices = g.squeeze(indices, [-1])
    hot = g.op("OneHot", [indices, g.ints(depth, "depth"), g.const([0.0, 1.0], "off_on")],
               call.hint("one_hot" if mode != "one_hot" else ""), axis=-1)
    if mode == "one_hot" or len(shape) == 1:
        return hot
    return g.reduce("ReduceMax" if mode == "multi_hot" else "ReduceSum", hot, [1], False, call.hint())


@converts(CategoryEncoding)
def category_encoding(call):
    return encode(call, call.x, call.layer.output_mode, call.layer.num_tokens)


@samples(CategoryEncoding)
def category_ids(layer, shape, dtype, rng):
    return rng.integers(0, layer.num_tokens, shape, dtype=np.int64)


@converts(Discretization)
def discretization(call):
    """The bin of x is the number of boundaries <= x (NaN: the last bin), as np.searchsorted(side='right')."""
    layer, g = call.layer, call.g
    if layer._boundaries is None:
        raise call.error("it has no bin boundaries yet (adapt it first)")
    boundaries, x = layer._boundaries, call.x
    if call.dtypes[0] == "int64":  # NumPy compares int64 with float32 boundaries in float64
        boundaries, x = boundaries.astype(np.float64), g.op("Cast", [x], to=11)
    below = g.op("GreaterOrEqual", [g.unsqueeze(x, [-1]), g.const(boundaries, call.hint("boundaries"), None)])
    bins = g.reduce("ReduceSum", g.cast(below, "int64"), [-1], False)
    bins = g.op("Where", [g.op("IsNaN", [x]), g.ints(boundaries.size), bins],
                call.hint() if layer.output_mode == "int" else None)
    return bins if layer.output_mode == "int" else encode(call, bins, layer.output_mode, layer._depth())


@samples(Discretization)
def around_boundaries(layer, shape, dtype, rng):
    """Values spread over the boundaries' range, a share of them exactly on a boundary."""
    bounds = layer._boundaries if layer._boundaries is not None and layer._boundaries.size else np.zeros(1)
    low, high = float(bounds.min()) - 1.0, float(bounds.max()) + 1.0
    values = rng.uniform(low, high, shape)
    on_boundary = rng.random(shape) < 0.25
    values[on_boundary] = rng.choice(bounds, int(on_boundary.sum()))
    return values.astype(np.float32) if dtype == "float32" else np.round(values).astype(np.int64)


def _label_encoder(call, x, keys, values, default, hint):
    """A lookup table (ai.onnx.ml LabelEncoder) from keys to values, `default` for any other key."""
    key_kind = "strings" if isinstance(keys[0], str) else "int64s"
    value_kind = "strings" if isinstance(values[0], str) else "int64s"
    attributes = {f"keys_{key_kind}": keys, f"values_{value_kind}": values, f"default_{value_kind[:-1]}": default}
    return call.g.op("LabelEncoder", [x], hint, domain=ML_DOMAIN, **attributes)


@converts(StringLookup, IntegerLookup)
def lookup(call):
    """Tokens to Keras's indices through one table (mask token -> 0, vocabulary -> its index, anything
    else -> the OOV index: IntegerLookup's value mod num_oov_indices; StringLookup hashes tokens with
    FNV-1a, which ONNX has no op for, so only one OOV index exports); invert is the reverse table."""
    layer, g = call.layer, call.g
    vocabulary = layer.get_vocabulary(include_special_tokens=False)
    if not vocabulary:
        raise call.error("it has no vocabulary yet (adapt it or give one)")
    if layer.invert:
        table = layer.get_vocabulary()
        return _label_encoder(call, call.x, list(range(len(table))), table, layer.oov_token, call.hint())
    if layer.num_oov_indices == 0:
        raise call.error("num_oov_indices=0 makes an unknown token an error, which an ONNX graph cannot raise")
    if layer.num_oov_indices > 1 and isinstance(layer, StringLookup):
        raise call.error("its out-of-vocabulary buckets come from the FNV-1a hash, which ONNX has no operator for; "
                         "use num_oov_indices=1 to export")
    keys = vocabulary + ([layer.mask_token] if layer.mask_token is not None else [])
    values = list(range(layer._token_start, layer._token_start + len(vocabulary))) + [0] * (len(keys) - len(vocabulary))
    unknown = -1 if layer.num_oov_indices > 1 else layer._oov_start
    indices = _label_encoder(call, call.x, keys, values, unknown, call.hint("index"))
    if layer.num_oov_indices > 1:  # floormod buckets, as np.mod
        bucket = g.op("Add", [g.op("Mod", [call.x, g.ints(layer.num_oov_indices)]), g.ints(layer._oov_start)])
        indices = g.op("Where", [g.op("Equal", [indices, g.ints(-1)]), bucket, indices], call.hint("index"))
    if layer.output_mode == "int":
        return indices
    return encode(call, g.op("Sub", [indices, g.ints(layer._oov_start)]), layer.output_mode, layer._depth())


@samples(StringLookup, IntegerLookup)
def vocabulary_tokens(layer, shape, dtype, rng):
    """Tokens of the vocabulary, the mask token and tokens it has never seen."""
    vocabulary = layer.get_vocabulary(include_special_tokens=False)
    if layer.invert:
        return rng.integers(-1, len(layer.get_vocabulary()) + 1, shape, dtype=np.int64)
    if isinstance(layer, StringLookup):
        extra = ["never seen", ""]
    else:
        extra = [-7, 123456789]
    pool = vocabulary + extra + ([layer.mask_token] if layer.mask_token is not None else [])
    picked = [pool[i] for i in rng.integers(0, len(pool), int(np.prod(shape)))]
    return np.array(picked, dtype=object if isinstance(layer, StringLookup) else np.int64).reshape(shape)


@converts(Hashing)
def hashing(call):
    raise call.error("it hashes with FNV-1a, which ONNX has no operator for; hash the values before the model")


@converts(RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomContrast)
def augmentation(call):
    """The identity at inference."""
    call.inference_only()
    return call.x


@converts(RandomCrop)
def random_crop(call):
    """At inference, Keras's centred window (a Slice), resized to the target size when its aspect ratio
    differs: bilinear with half-pixel centres, edges clamped (fastnn's 'nearest' fill), as ONNX's
    Resize does it."""
    call.inference_only()
    layer, g = call.layer, call.g
    height, width = call.shape[1:3]
    if height is None or width is None:
        raise call.error("the image size is unknown, so the centred window cannot be fixed in the graph")
    top, left, rows, columns = layer._centred_window(height, width)
    window = g.op("Slice", [call.x, g.ints([top, left]), g.ints([top + rows, left + columns]), g.ints([1, 2])],
                  call.hint("window"))
    if (rows, columns) == (layer.height, layer.width):
        return window
    # Sizes for all four axes (batch and channels from the input's shape), not `axes=[1, 2]`: ONNX
    # Runtime's transpose optimizer mishandles a partial Resize between layout Transposes.
    sizes = g.op("Concat", [g.op("Shape", [window], end=1), g.ints([layer.height, layer.width], "sizes"),
                            g.op("Shape", [window], start=3)], call.hint("sizes"), axis=0)
    return g.op("Resize", [window, "", "", sizes], call.hint(), mode="linear",
                coordinate_transformation_mode="half_pixel")
