"""The converter registry: one function per layer class that writes the layer's call as ONNX nodes.

A converter is `convert(call) -> output value name(s)`, registered with `@converts(LayerClass, ...)`
next to the converters of the same family (core.py, merging.py, preprocessing.py, ...). A layer class
without one of its own uses the converter of its nearest registered base class; a layer with none
cannot be exported, and the error names it.
"""

__all__ = ["ExportError", "converts", "converter_for", "samples", "sampler_for"]

_CONVERTERS = {}
_SAMPLERS = {}


class ExportError(ValueError):
    """A model cannot be written as ONNX: names the layer and what stops it."""


def converts(*classes):
    """Decorator: register the function as the ONNX converter of these layer classes."""
    def register(fn):
        for cls in classes:
            _CONVERTERS[cls] = fn
        return fn
    return register


def samples(*classes):
    """Decorator: register sampler(layer, shape, dtype, rng) -> array, the sample inputs verification feeds a
    model input that a layer of these classes reads first (token ids in range, padded sequences)."""
    def register(fn):
        for cls in classes:
            _SAMPLERS[cls] = fn
        return fn
    return register


def _lookup(table, layer):
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    return None


def converter_for(layer):
    """The converter of `layer`'s class (or nearest registered base class); ExportError if none."""
    fn = _lookup(_CONVERTERS, layer)
    if fn is None:
        raise ExportError(f"{type(layer).__name__} '{layer.name}' cannot be exported to ONNX: fastnn has no ONNX "
                          f"mapping for the layer class {type(layer).__name__}")
    return fn


def sampler_for(layer):
    """The sampler registered for `layer`'s class, or None."""
    return _lookup(_SAMPLERS, layer)
