"""The UCI optical handwritten digits (8x8), bundled with fastnn under CC BY 4.0 (see data/README.md)."""
import functools
import gzip
import os

import numpy as np

from .preprocessing import train_test_split

__all__ = ["load_digits"]

_DATA_FILE = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")
N_SAMPLES, N_FEATURES, N_CLASSES, MAX_PIXEL = 1797, 64, 10, 16


@functools.lru_cache(maxsize=1)
def _read_digits():
    """Parse the bundled CSV once: (1797, 64) uint8 pixels 0..16 and (1797,) uint8 labels 0..9."""
    with gzip.open(_DATA_FILE, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (N_SAMPLES, N_FEATURES + 1):
        raise RuntimeError(f"bundled digits data is damaged: table shape {table.shape}")
    pixels, labels = table[:, :N_FEATURES], table[:, N_FEATURES]
    if pixels.min() < 0 or pixels.max() > MAX_PIXEL or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise RuntimeError("bundled digits data is damaged: values out of range")
    pixels = pixels.astype(np.uint8)
    labels = labels.astype(np.uint8)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def load_digits(test_fraction=0.2, seed=0):
    """Load the 8x8 handwritten digits, split into a stratified training and test part.

    1797 grey-level images of the digits 0-9 (about 180 per class) from the UCI Machine Learning
    Repository (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0). Each image is 64 features, the counts of on
    pixels in 4x4 blocks of a 32x32 bitmap (0..16), here divided by 16.

    Args:
        test_fraction: Share of the samples held out for testing, in (0, 1).
        seed: Seed of the deterministic, class-stratified shuffle and split.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x float32 (n, 64) in [0, 1], y int64 (n,) in 0..9.
        With the defaults: 1438 training and 359 test samples.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits()
        >>> x_train.reshape(-1, 8, 8)[0]   # one image
    """
    pixels, labels = _read_digits()
    x = pixels.astype(np.float32) / np.float32(MAX_PIXEL)
    y = labels.astype(np.int64)
    return train_test_split(x, y, test_fraction=test_fraction, seed=seed, stratify=True)
