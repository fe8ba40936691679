"""Small bundled datasets and the few helpers needed to prepare them for training.

Example:
    >>> (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits()
    >>> x_train.shape, x_train.dtype
    ((1438, 64), dtype('float32'))
"""
from .digits import load_digits
from .preprocessing import standardize, train_test_split
from .sms_spam import load_sms_spam

__all__ = ["load_digits", "load_sms_spam", "train_test_split", "standardize"]
