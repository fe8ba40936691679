"""Converters of the merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.
Their output mask is the AND of their inputs' masks, as in fastnn (and Keras)."""
import numpy as np

from ..layers import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .registry import converts


def _all_masks(call):
    present = [m for m in call.masks if m is not None]
    mask = present[0] if present else None
    for other in present[1:]:
        mask = call.g.op("And", [mask, other], call.hint("mask"))
    call.output_mask = mask


def _chain(call, op_type):
    """Fold the inputs left to right with a binary op, in fastnn's order (so the float sums agree)."""
    _all_masks(call)
    y = call.inputs[0]
    for x in call.inputs[1:]:
        y = call.g.op(op_type, [y, x], call.hint())
    return y


@converts(Add)
def add(call):
    return _chain(call, "Add")


@converts(Subtract)
def subtract(call):
    return _chain(call, "Sub")


@converts(Multiply)
def multiply(call):
    return _chain(call, "Mul")


@converts(Maximum)
def maximum(call):
    return _chain(call, "Max")


@converts(Minimum)
def minimum(call):
    return _chain(call, "Min")


@converts(Average)
def average(call):
    total = _chain(call, "Add")
    return call.g.op("Mul", [total, call.g.const(np.float32(1.0 / len(call.inputs)))], call.hint())


@converts(Concatenate)
def concatenate(call):
    _all_masks(call)
    rank = len(call.shape)
    return call.g.op("Concat", list(call.inputs), call.hint(), axis=call.layer._axis(rank))
