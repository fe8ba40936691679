"""Weight regularizers (Keras 3): L1, L2, L1L2, with their penalty and its gradient.

A layer adds penalty(w) to the loss and calls add_grad(w, grad) on the weight gradient.
"""
import math

import numpy as np

from ._registry import Configurable as _Configurable
from ._registry import Registry as _Registry
from .ops import nn as _nn

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]


def _factor(value, what):
    """Keras accepts a non-negative finite float; None counts as 0."""
    value = 0.0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid value for argument {what}: expected a non-negative float, got {value!r}")
    return float(value)


class Regularizer(_Configurable):
    """Base: penalty(w) -> float (also __call__), add_grad(w, grad) in place, get_config."""

    l1 = 0.0
    l2 = 0.0

    def penalty(self, w):
        """l1 * sum(|w|) + l2 * sum(w^2) as a Python float.

        Args:
            w: the weight array (float32).
        """
        flat = np.ascontiguousarray(w, dtype=np.float32).reshape(-1)
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(flat).sum(dtype=np.float64))
        if self.l2:
            total += self.l2 * _nn.l2_norm(flat) ** 2  # the deterministic kernel, not BLAS
        return total

    __call__ = penalty

    def add_grad(self, w, grad):
        """grad += l1 * sign(w) + 2 * l2 * w, in place.

        Args:
            w: the weights.
            grad: their gradient, a float32 array of w's shape, updated in place.
        """
        if grad.shape != np.shape(w):
            raise ValueError(f"{type(self).__name__}.add_grad: grad has shape {grad.shape}, w has {np.shape(w)}")
        if self.l1:
            grad += np.float32(self.l1) * np.sign(w)
        if self.l2:
            grad += np.float32(2.0 * self.l2) * w


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w^2).

    Args:
        l1: the L1 factor (>= 0).
        l2: the L2 factor (>= 0).
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """l1 * sum(|w|). Args: l1 (>= 0, default 0.01)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1")

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(w^2). Args: l2 (>= 0, default 0.01)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2")

    def get_config(self):
        return {"l2": self.l2}


# Keras's lower-case spellings: l2(0.01) is L2(l2=0.01).
l1 = L1
l2 = L2
l1_l2 = L1L2

_registry = _Registry("regularizer", Regularizer)
_registry.add(L1, "l1")
_registry.add(L2, "l2")
_registry.add(L1L2, "l1_l2")


def get(identifier):
    """A regularizer from 'l1', 'l2', 'l1_l2', an instance or a config dict; None stays None."""
    if identifier is None:
        return None
    return _registry.get(identifier)


serialize = _registry.serialize
deserialize = _registry.deserialize
