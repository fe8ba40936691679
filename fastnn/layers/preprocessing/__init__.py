"""Preprocessing layers: data preparation inside the model, saved with it and learnt with adapt().

Cleaning and scaling (Normalization, Rescaling, Imputation, Discretization), categorical encodings
(StringLookup, IntegerLookup, CategoryEncoding, Hashing), text (TextVectorization) and image augmentation (RandomFlip,
RandomRotation, RandomTranslation, RandomZoom, RandomContrast, RandomCrop).
"""
from .augmentation import RandomContrast, RandomCrop, RandomFlip
from .base import PreprocessingLayer
from .discretization import Discretization
from .encoding import CategoryEncoding, Hashing
from .geometric import RandomRotation, RandomTranslation, RandomZoom
from .imputation import Imputation
from .lookup import IntegerLookup, StringLookup
from .scaling import Normalization, Rescaling
from .text import TextVectorization

__all__ = ["PreprocessingLayer", "Normalization", "Rescaling", "Imputation", "Discretization", "StringLookup",
           "IntegerLookup", "CategoryEncoding", "Hashing", "RandomFlip", "RandomRotation", "RandomTranslation",
           "RandomZoom", "RandomContrast", "RandomCrop", "TextVectorization"]
