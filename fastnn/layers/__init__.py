"""Layers: the building blocks of a model, and the registry that saving rebuilds them from."""
from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer, get_layer_class, register
from .convolutional import Conv1D, Conv2D
from .convolutional_variants import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import Dense, Input, InputLayer
from .embedding import Embedding
from .masking import Masking
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .preprocessing import (CategoryEncoding, Discretization, Hashing, Imputation, IntegerLookup, Normalization,
                            RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
                            Rescaling, StringLookup, TextVectorization)
from .quantized import QuantizedDense
from .quantized_conv import QuantizedConv1D, QuantizedConv2D
from .quantized_recurrent import QuantizedGRU, QuantizedLSTM
from .recurrent import GRU, LSTM, SimpleRNN
from .regularization import Dropout, GaussianDropout, GaussianNoise, SpatialDropout2D
from .reshaping import Cropping1D, Cropping2D, Flatten, Reshape, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from .sequence_reshaping import Identity, Permute, RepeatVector, UpSampling1D
from .wrappers import Bidirectional, TimeDistributed

__all__ = ["Layer", "register", "get_layer_class", "Input", "InputLayer", "Dense", "Activation", "ReLU",
           "LeakyReLU", "PReLU", "ELU", "Softmax", "Dropout", "GaussianNoise",
           "GaussianDropout",
           "Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "Cropping1D", "UpSampling1D",
           "Identity", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "Masking", "Normalization", "Rescaling", "Imputation", "Discretization", "StringLookup", "IntegerLookup",
           "CategoryEncoding", "Hashing", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
           "RandomContrast", "RandomCrop", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
           "Conv2DTranspose", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "BatchNormalization", "LayerNormalization", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "SpatialDropout2D",
           "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "TextVectorization",
           "QuantizedDense", "QuantizedConv1D", "QuantizedConv2D", "QuantizedLSTM", "QuantizedGRU"]

# Keras's short spellings of the pooling layers: the same classes (configs keep the long names)
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
__all__ += ["MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D",
            "GlobalAvgPool1D", "GlobalAvgPool2D"]

# Keras layers fastnn does not have yet: asking for one says so by name.
_NOT_YET = ("Conv3D", "Conv1DTranspose", "SeparableConv1D", "GroupNormalization", "UnitNormalization",
            "SpatialDropout1D", "AlphaDropout", "RNN", "ConvLSTM2D", "MultiHeadAttention", "Attention",
            "AdditiveAttention", "Lambda", "Dot", "ActivityRegularization")


def __getattr__(name):
    if name in _NOT_YET:
        raise AttributeError(f"fastnn.layers has no {name}: fastnn does not implement the Keras layer {name} "
                             f"yet (the README's status section lists what exists)")
    raise AttributeError(f"module 'fastnn.layers' has no attribute {name!r}")
