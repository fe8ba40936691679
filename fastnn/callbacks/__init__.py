"""Callbacks: hooks into fit/evaluate/predict (History, EarlyStopping, ModelCheckpoint, ... as Keras 3)."""
from .base import Callback, CallbackList, History, LambdaCallback
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .monitoring import EarlyStopping, TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "LearningRateScheduler", "TerminateOnNaN", "CSVLogger", "LambdaCallback"]
