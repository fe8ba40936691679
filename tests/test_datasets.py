"""Bundled digits data and the split/standardize helpers."""
import hashlib
import os

import numpy as np
import pytest

from fastnn import datasets
from fastnn.datasets import digits

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def test_bundled_file_is_the_documented_one_with_its_licence():
    with open(digits._DATA_FILE, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == DIGITS_SHA256
    data_dir = os.path.dirname(digits._DATA_FILE)
    readme = open(os.path.join(data_dir, "README.md")).read()
    licence = open(os.path.join(data_dir, "LICENSE")).read()
    for text in (readme, licence):
        assert "CC BY 4.0" in text and "Alpaydin" in text and "Kaynak" in text and "UCI" in text


def test_load_digits_shapes_types_and_ranges():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert y_train.shape == (1438,) and y_test.shape == (359,)
    assert x_train.dtype == np.float32 and np.issubdtype(y_train.dtype, np.integer)
    x_all = np.concatenate([x_train, x_test])
    assert x_all.min() == 0.0 and x_all.max() == 1.0
    # Every value is a pixel count 0..16 divided by 16.
    np.testing.assert_array_equal(x_all * 16, np.round(x_all * 16))
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert counts.sum() == 1797 and len(counts) == 10 and counts.min() >= 170


def test_load_digits_is_deterministic_stratified_and_disjoint():
    (a_x, a_y), (a_xt, a_yt) = datasets.load_digits(seed=3)
    (b_x, b_y), (b_xt, b_yt) = datasets.load_digits(seed=3)
    np.testing.assert_array_equal(a_x, b_x)
    np.testing.assert_array_equal(a_yt, b_yt)
    (c_x, _), _ = datasets.load_digits(seed=4)
    assert not np.array_equal(a_x, c_x)
    # Each class keeps its share of the test part to within one sample.
    all_counts = np.bincount(np.concatenate([a_y, a_yt]), minlength=10)
    assert np.all(np.abs(np.bincount(a_yt, minlength=10) - all_counts * len(a_yt) / 1797) < 1)
    # Together the two parts are exactly the bundled rows, each once.
    pixels, labels = digits._read_digits()
    full = np.concatenate([np.concatenate([a_x, a_xt]) * 16, np.concatenate([a_y, a_yt])[:, None]], axis=1)
    expected = np.concatenate([pixels, labels[:, None]], axis=1).astype(np.float32)
    def sort_rows(a):
        return a[np.lexsort(a.T[::-1])]
    np.testing.assert_array_equal(sort_rows(full), sort_rows(expected))
    _, (x_half, _) = datasets.load_digits(test_fraction=0.5)
    assert len(x_half) == round(1797 * 0.5)


def test_load_digits_returns_fresh_arrays():
    (x_train, _), _ = datasets.load_digits()
    x_train[:] = -1
    (x_again, _), _ = datasets.load_digits()
    assert x_again.min() == 0.0


def test_train_test_split_keeps_pairs_together():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    (x_tr, y_tr), (x_te, y_te) = datasets.train_test_split(x, y, test_fraction=0.3, seed=1)
    assert len(x_te) == 3 and len(x_tr) == 7
    np.testing.assert_array_equal(x_tr[:, 0], 2 * y_tr)
    np.testing.assert_array_equal(x_te[:, 0], 2 * y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(10))


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_train_test_split_rejects_bad_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.train_test_split(np.zeros((10, 2)), np.zeros(10), test_fraction=bad, seed=0)


def test_train_test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same number of samples"):
        datasets.train_test_split(np.zeros((10, 2)), np.zeros(9), test_fraction=0.2, seed=0)


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    x_train = rng.normal(3.0, 2.0, size=(200, 4)).astype(np.float32)
    x_train[:, 3] = 5.0
    x_test = np.full((3, 4), 3.0, dtype=np.float32)
    s_train, s_test = datasets.standardize(x_train, x_test)
    assert s_train.dtype == np.float32 and s_test.dtype == np.float32
    np.testing.assert_allclose(s_train[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(s_train[:, :3].std(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(s_train[:, 3], 0.0)
    mean, std = x_train.astype(np.float64).mean(axis=0), x_train.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(s_test[0, :3], (3.0 - mean[:3]) / std[:3], rtol=1e-5)
    with pytest.raises(ValueError, match="x_test"):
        datasets.standardize(x_train, np.zeros((3, 5)))
