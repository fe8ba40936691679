"""Splitting and scaling helpers for preparing arrays before training."""
import numpy as np

__all__ = ["train_test_split", "standardize"]


def _check_fraction(test_fraction):
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)):
        raise TypeError(f"train_test_split: test_fraction must be a float in (0, 1), got {test_fraction!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction!r}")
    return float(test_fraction)


def _stratified_test_indices(y, n_test, rng):
    """Pick n_test indices so each class keeps its share (largest-remainder rounding)."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quotas = counts * (n_test / len(y))
    take = np.floor(quotas).astype(np.int64)
    # Hand the seats lost to rounding to the classes with the largest remainders (ties: lower class first).
    leftover = n_test - int(take.sum())
    order = np.lexsort((np.arange(len(classes)), -(quotas - take)))
    take[order[:leftover]] += 1
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:take[c]] for c in range(len(classes))]
    return np.concatenate(picked)


def train_test_split(x, y, test_fraction=0.2, seed=0, *, stratify=False):
    """Shuffle and split paired arrays into a training and a test part, deterministically.

    The split depends only on the arguments (it uses its own generator seeded with ``seed``, not the
    global one behind ``fastnn.set_seed``), so the same call always returns the same split.

    Args:
        x: Array of samples, first axis = samples.
        y: Array of targets with the same first-axis length as ``x``.
        test_fraction: Share of the samples that goes to the test part, in (0, 1). The test part gets
            ``round(n * test_fraction)`` samples, at least 1, and the training part at least 1.
        seed: Non-negative int seeding the shuffle.
        stratify: If True, ``y`` holds class labels (1-D) and every class keeps its share in both parts.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, each a shuffled copy.

    Raises:
        ValueError: If the lengths differ, there are fewer than 2 samples or the fraction is out of range.

    Example:
        >>> (x_tr, y_tr), (x_te, y_te) = train_test_split(x, y, test_fraction=0.25, seed=1)
    """
    fraction = _check_fraction(test_fraction)
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"train_test_split: x and y need the same number of samples, got shapes "
                         f"{x.shape} and {y.shape}")
    n = len(x)
    if n < 2:
        raise ValueError(f"train_test_split: need at least 2 samples, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"train_test_split: seed must be a non-negative int, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    n_test = min(max(int(round(n * fraction)), 1), n - 1)
    if stratify:
        if y.ndim != 1:
            raise ValueError(f"train_test_split: stratify needs 1-D class labels, got shape {y.shape}")
        test_idx = _stratified_test_indices(y, n_test, rng)
    else:
        test_idx = rng.permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


def standardize(x_train, x_test):
    """Scale features to zero mean and unit variance using statistics of the training part only.

    Features that are constant in the training part (std 0) are only centred.

    Args:
        x_train: Array (samples, ...) the mean and standard deviation come from.
        x_test: Array with the same per-sample shape, scaled with the training statistics.

    Returns:
        ``(x_train_scaled, x_test_scaled)`` as float32 arrays.

    Example:
        >>> x_train, x_test = standardize(x_train, x_test)
    """
    x_train = np.asarray(x_train, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    if x_train.ndim == 0 or len(x_train) == 0:
        raise ValueError(f"standardize: x_train must hold at least one sample, got shape {x_train.shape}")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"standardize: x_test samples have shape {x_test.shape[1:]}, expected "
                         f"{x_train.shape[1:]} as in x_train")
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)
