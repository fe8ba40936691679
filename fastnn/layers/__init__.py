"""Layers: the building blocks of a model, and the registry that saving rebuilds them from."""
from .activation import Activation
from .base import Layer, get_layer_class, register
from .core import Dense, Input, InputLayer
from .regularization import Dropout
from .reshaping import Flatten, Reshape

__all__ = ["Layer", "register", "get_layer_class", "Input", "InputLayer", "Dense", "Activation", "Dropout",
           "Flatten", "Reshape"]
