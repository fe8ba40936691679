"""Layers: the building blocks of a model, and the registry that saving rebuilds them from."""
from .activation import Activation
from .base import Layer, get_layer_class, register
from .core import Dense, Input, InputLayer
from .masking import Masking
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .preprocessing import (CategoryEncoding, Discretization, Hashing, Imputation, IntegerLookup, Normalization,
                            RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
                            Rescaling, StringLookup)
from .quantized import QuantizedDense
from .regularization import Dropout
from .reshaping import Flatten, Reshape

__all__ = ["Layer", "register", "get_layer_class", "Input", "InputLayer", "Dense", "Activation", "Dropout",
           "Flatten", "Reshape", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "Masking", "Normalization", "Rescaling", "Imputation", "Discretization", "StringLookup", "IntegerLookup",
           "CategoryEncoding", "Hashing", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
           "RandomContrast", "RandomCrop", "QuantizedDense"]

# Keras layers fastnn does not have yet: asking for one says so by name.
_NOT_YET = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv2D",
            "SeparableConv1D", "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
            "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
            "GlobalMaxPooling2D", "BatchNormalization", "LayerNormalization", "GroupNormalization",
            "UnitNormalization", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D",
            "UpSampling2D", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
            "AlphaDropout", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed",
            "RNN", "ConvLSTM2D", "MultiHeadAttention", "Attention", "AdditiveAttention",
            "TextVectorization", "Permute", "RepeatVector", "Lambda", "Dot",
            "LeakyReLU", "PReLU", "ReLU", "ELU", "Softmax", "ActivityRegularization")


def __getattr__(name):
    if name in _NOT_YET:
        raise AttributeError(f"fastnn.layers has no {name}: fastnn does not implement the Keras layer {name} "
                             f"yet (the README's status section lists what exists)")
    raise AttributeError(f"module 'fastnn.layers' has no attribute {name!r}")
