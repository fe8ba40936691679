"""Converters of the layers that move or repeat values: Permute, RepeatVector, ZeroPadding1D,
Cropping1D, UpSampling1D and Identity."""
from ..layers import Cropping1D, Identity, Permute, RepeatVector, UpSampling1D, ZeroPadding1D
from .convolutional import _INT64_MAX
from .registry import converts


@converts(Identity)
def identity(call):
    return call.x


@converts(Permute)
def permute(call):
    return call.g.op("Transpose", [call.x], call.hint(), perm=[0, *call.layer.dims])


@converts(RepeatVector)
def repeat_vector(call):
    g = call.g
    return g.op("Tile", [g.unsqueeze(call.x, [1], call.hint("steps")), g.ints([1, call.layer.n, 1], "repeats")],
                call.hint())


@converts(ZeroPadding1D)
def zero_padding_1d(call):
    before, after = call.layer.padding
    return call.g.op("Pad", [call.x, call.g.ints([0, before, 0, 0, after, 0], "pads")], call.hint())


@converts(Cropping1D)
def cropping_1d(call):
    before, after = call.layer.cropping
    g = call.g
    return g.op("Slice", [call.x, g.ints([before]), g.ints([-after if after else _INT64_MAX]), g.ints([1])],
                call.hint())


@converts(UpSampling1D)
def up_sampling_1d(call):
    """Each step repeated: (batch, steps, 1, features) tiled along the new axis, then merged into steps."""
    g, size = call.g, call.layer.size
    tiled = g.op("Tile", [g.unsqueeze(call.x, [2], call.hint("repeat")), g.ints([1, 1, size, 1], "repeats")],
                 call.hint("tiled"))
    return g.op("Reshape", [tiled, g.ints([0, -1, call.shape[2]], "shape")], call.hint())
