"""The SMS Spam Collection, bundled with fastnn under CC BY 4.0 (see data/README.md)."""
import functools
import gzip
import os

import numpy as np

from .preprocessing import train_test_split

__all__ = ["load_sms_spam"]

_DATA_FILE = os.path.join(os.path.dirname(__file__), "data", "sms_spam.tsv.gz")
N_MESSAGES, N_SPAM = 5574, 747


@functools.lru_cache(maxsize=1)
def _read_messages():
    """Parse the bundled file once: a tuple of messages and a read-only uint8 array, 1 for spam."""
    texts, labels = [], []
    with gzip.open(_DATA_FILE, "rt", encoding="utf-8", newline="\n") as f:
        for line in f:
            label, sep, text = line.rstrip("\n").partition("\t")
            if not sep or label not in ("ham", "spam"):
                raise RuntimeError(f"bundled SMS spam data is damaged near message {len(texts) + 1}")
            texts.append(text)
            labels.append(label == "spam")
    labels = np.array(labels, np.uint8)
    if len(texts) != N_MESSAGES or int(labels.sum()) != N_SPAM:
        raise RuntimeError(f"bundled SMS spam data is damaged: {len(texts)} messages, {int(labels.sum())} spam")
    labels.flags.writeable = False
    return tuple(texts), labels


def load_sms_spam(test_fraction=0.2, seed=0):
    """Load the SMS Spam Collection, split into a stratified training and test part.

    5,574 real English text messages labelled ham (4,827) or spam (747), from the UCI Machine
    Learning Repository (T. A. Almeida and J. M. Gómez Hidalgo, 2011; CC BY 4.0). Always answering
    ham scores 86.6 %.

    Args:
        test_fraction: Share of the messages held out for testing, in (0, 1).
        seed: Seed of the deterministic, class-stratified shuffle and split.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x lists of str, y int64 arrays of 0 (ham) and
        1 (spam). With the defaults: 4459 training and 1115 test messages.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_sms_spam()
        >>> x_train[0], y_train[0]
    """
    texts, labels = _read_messages()
    (x_train, y_train), (x_test, y_test) = train_test_split(
        np.arange(len(texts)), labels.astype(np.int64), test_fraction=test_fraction, seed=seed, stratify=True)
    return ([texts[i] for i in x_train], y_train), ([texts[i] for i in x_test], y_test)
