"""Layers: the building blocks of a model, and the registry that saving rebuilds them from."""
from .base import Layer, get_layer_class, register
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape

__all__ = ["Layer", "register", "get_layer_class", "Input", "InputLayer", "Dense", "Activation", "Dropout",
           "Flatten", "Reshape"]
