"""Keras 3 optimizers over one flat float32 vector of all parameters.

A model keeps every parameter in one flat vector (layer weights are views into it) and every gradient in
another, so a step is: evaluate the learning rate, clip, decay the weights, then ONE fused update kernel
over the whole vector (Adam's kernel does the decay in its own pass). Everything a step needs is prepared
in build(), so apply() costs a few attribute lookups plus the kernel.

Example:
    >>> opt = fastnn.optimizers.Adam(1e-3)
    >>> opt.build(flat_params, [(0, (4, 3)), (12, (3,))])
    >>> opt.apply(flat_grads)     # params updated in place, opt.iterations == 1
"""
from .. import schedules
from .._registry import Registry as _Registry
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, Nadam
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Nadam", "Adamax", "RMSprop", "Adagrad", "schedules", "get", "serialize",
           "deserialize"]


_registry = _Registry("optimizer", Optimizer)
_registry.add(SGD, "sgd")
_registry.add(Adam, "adam")
_registry.add(AdamW, "adamw")
_registry.add(Nadam, "nadam")
_registry.add(Adamax, "adamax")
_registry.add(RMSprop, "rmsprop")
_registry.add(Adagrad, "adagrad")


get = _registry.get
serialize = _registry.serialize
deserialize = _registry.deserialize
