"""The numeric preprocessing layers: Normalization, Rescaling, Imputation and Discretization, against
NumPy and Keras 3's numbers, adapt over arrays and batch sources, in models, saved and loaded."""
import numpy as np
import pytest

import fastnn
from fastnn.data import PyDataset
from fastnn.layers import Dense, Discretization, Imputation, Input, Normalization, Rescaling
from fastnn.layers.preprocessing import imputation, statistics

from layer_helpers import check_layer


class Batches(PyDataset):
    def __init__(self, x, size, with_targets=False):
        super().__init__()
        self.x, self.size, self.with_targets = x, size, with_targets

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        part = self.x[i * self.size:(i + 1) * self.size]
        return (part, np.zeros(len(part))) if self.with_targets else part


def uneven_batches(x, sizes=(1, 7, 50, 3)):
    start, k = 0, 0
    while start < len(x):
        size = sizes[k % len(sizes)]
        yield x[start:start + size]
        start, k = start + size, k + 1


def roundtrip(model, tmp_path, x):
    """The model saved and loaded: its weights and predictions must come back bitwise."""
    path = tmp_path / "model.fnn"
    model.save(path)
    loaded = fastnn.load_model(path)
    assert loaded.get_config() == model.get_config()  # state kept in the config (boundaries) comes back exactly
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(model.get_weights(), loaded.get_weights()))
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0), equal_nan=True)
    return loaded


# ---- Normalization ------------------------------------------------------------------------------

KERAS_X = np.array([[1.0, 2.0], [3.0, 5.0], [5.0, 11.0]], np.float32)


def test_normalization_matches_keras():
    """Keras 3.15's numbers for the same calls."""
    norm = Normalization()
    norm.adapt(KERAS_X)
    mean, variance, count = norm.get_weights()
    np.testing.assert_allclose(mean, [3.0, 6.0])
    np.testing.assert_allclose(variance, [2.6666667, 14.0], rtol=1e-7)
    assert count == 3 and [w for w in norm._weight_names] == ["mean", "variance", "count"]
    np.testing.assert_allclose(norm(KERAS_X), [[-1.2247448, -1.069045], [0.0, -0.26726124], [1.2247448, 1.3363062]],
                               rtol=1e-7)
    given = Normalization(mean=[1.0, 2.0], variance=[0.0, 4.0])  # sqrt(0) -> epsilon 1e-7
    np.testing.assert_allclose(given(KERAS_X), [[0.0, 0.0], [2e7, 1.5], [4e7, 4.5]], rtol=1e-6)
    inverse = Normalization(mean=[1.0, 2.0], variance=[4.0, 4.0], invert=True)
    np.testing.assert_array_equal(inverse(KERAS_X), [[3.0, 6.0], [7.0, 12.0], [11.0, 24.0]])
    whole = Normalization(axis=None)
    whole.adapt(KERAS_X)
    np.testing.assert_allclose([w.item() for w in whole.get_weights()[:2]], [4.5, 10.583333], rtol=1e-7)
    np.testing.assert_allclose(whole(KERAS_X)[0], [-1.0758626, -0.7684733], rtol=1e-6)


@pytest.mark.parametrize("shape,axis", [((40, 6), -1), ((30, 3, 4), 1), ((30, 3, 4), (1, 2)), ((30, 3, 4), None),
                                        ((20, 2, 3, 5), (1, 3)), ((20, 2, 3, 5), -2)])
def test_normalization_axes_vs_numpy(shape, axis, rng):
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 4, shape[1:]) + 3).astype(np.float32)
    norm = Normalization(axis=axis)
    norm.adapt(x)
    kept = () if axis is None else tuple(a % len(shape) for a in np.atleast_1d(axis))
    reduced = tuple(a for a in range(len(shape)) if a not in kept)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(norm.mean, x64.mean(axis=reduced), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(norm.variance, x64.var(axis=reduced), rtol=1e-6)
    expected = (x64 - x64.mean(axis=reduced, keepdims=True)) / np.sqrt(x64.var(axis=reduced, keepdims=True))
    np.testing.assert_allclose(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_normalization_adapt_streams_every_kind_of_source(rng):
    x = (rng.standard_normal((1000, 5)) * [1, 10, 100, 1e3, 1e4] + [0, 5, -50, 1e4, 3e6]).astype(np.float32)
    x64 = x.astype(np.float64)
    sources = {"array": x, "list": x.tolist(), "batch_size": None, "generator": uneven_batches(x),
               "PyDataset": Batches(x, 64), "PyDataset (x, y)": Batches(x, 100, with_targets=True),
               "list of batches": iter([x[:500], x[500:]])}
    for name, source in sources.items():
        norm = Normalization()
        if name == "batch_size":
            norm.adapt(x, batch_size=7)
        else:
            norm.adapt(source)
        np.testing.assert_allclose(norm.mean, x64.mean(0), rtol=1e-7, err_msg=name)
        np.testing.assert_allclose(norm.variance, x64.var(0), rtol=1e-6, err_msg=name)
        assert norm.get_weights()[2] == 1000
    once, twice = Normalization(), Normalization()
    once.adapt(uneven_batches(x))
    twice.adapt(uneven_batches(x))
    assert all(np.array_equal(a, b) for a, b in zip(once.get_weights(), twice.get_weights()))
    capped = Normalization()
    capped.adapt(Batches(x, 100), steps=3)
    np.testing.assert_allclose(capped.mean, x64[:300].mean(0), rtol=1e-7)
    assert capped.get_weights()[2] == 300


def test_normalization_backward_and_config(rng):
    check_layer(Normalization(mean=[1.0, -2.0, 0.5], variance=[4.0, 0.25, 9.0]), (5, 3), (5, 3), 0)
    check_layer(Normalization(axis=1, mean=[1.0, 2.0], variance=[4.0, 0.5], invert=True), (3, 2, 4), (3, 2, 4), 0)
    adapted = Normalization()
    adapted.adapt(rng.standard_normal((50, 4)) * 3)
    check_layer(adapted, (6, 4), (6, 4), 9)


def test_normalization_errors(rng):
    with pytest.raises(ValueError, match="both mean and variance"):
        Normalization(mean=[0.0])
    with pytest.raises(ValueError, match="negative"):
        Normalization(mean=[0.0], variance=[-1.0])
    with pytest.raises(ValueError, match="nothing to adapt"):
        Normalization(mean=[0.0], variance=[1.0]).adapt(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        Normalization().adapt(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="batch axis"):
        Normalization(axis=0).build((None, 3))
    with pytest.raises(ValueError, match="known sizes"):
        Normalization(axis=1).build((None, None, 3))
    norm = Normalization()
    norm.adapt(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="built for inputs of shape"):
        norm.adapt(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="no batches"):
        Normalization().adapt(iter([]))
    with pytest.raises(TypeError, match="reads float32 inputs"):
        Normalization()(Input((3,), dtype="int64"))
    with pytest.raises(ValueError, match="batch_size"):
        Normalization().adapt(np.zeros((4, 3)), batch_size=0)


def test_normalization_in_models_saved_bitwise(rng, tmp_path):
    x = (rng.standard_normal((200, 6)) * 7 + 3).astype(np.float32)
    y = (x[:, 0] > 3).astype(np.float32)
    norm = Normalization()
    norm.adapt(x)
    model = fastnn.Sequential([Input((6,)), norm, Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    statistics_before = norm.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(statistics_before, model.get_weights()[:3]))  # not trained
    assert model.count_params() == 13 + 7 * 8 + 9
    roundtrip(model, tmp_path, x)
    inputs = Input((6,))
    functional = fastnn.Model(inputs, Dense(1)(Normalization(mean=list(range(6)), variance=[2.0] * 6)(inputs)))
    roundtrip(functional, tmp_path, x)
    # adapting again after the model is built changes what the model computes, in place
    before = model.predict(x, verbose=0)
    norm.adapt(x * 2)
    assert not np.array_equal(before, model.predict(x, verbose=0))


def test_normalization_after_a_trained_layer_gets_gradients(rng):
    """In the middle of a model its backward passes the gradient to the layer before."""
    x = rng.standard_normal((64, 4)).astype(np.float32)
    inputs = Input((4,))
    hidden = Normalization(mean=[0.5] * 3, variance=[4.0] * 3)(Dense(3)(inputs))
    model = fastnn.Model(inputs, Dense(1)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    first = model.get_weights()[0].copy()
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    assert not np.array_equal(first, model.get_weights()[0])


# ---- Rescaling ----------------------------------------------------------------------------------

def test_rescaling(rng):
    x = rng.uniform(0, 255, (4, 3, 2, 3)).astype(np.float32)
    assert np.array_equal(Rescaling(1 / 255)(x), x * np.float32(1 / 255))
    assert np.array_equal(Rescaling(1 / 127.5, offset=-1)(x), x * np.float32(1 / 127.5) + np.float32(-1))
    per_channel = Rescaling([1.0, 0.5, 2.0], offset=[0.0, 1.0, -1.0])
    assert np.array_equal(per_channel(x), x * np.float32([1.0, 0.5, 2.0]) + np.float32([0.0, 1.0, -1.0]))
    check_layer(Rescaling(0.5, offset=2.0), (3, 4), (3, 4), 0)
    check_layer(Rescaling([2.0, -1.0]), (3, 5, 2), (3, 5, 2), 0)
    assert Rescaling(0.5).get_config()["scale"] == 0.5
    with pytest.raises(ValueError, match="do not match"):
        Rescaling([1.0, 2.0]).build((None, 3))
    with pytest.raises(ValueError, match="finite"):
        Rescaling(float("nan"))


# ---- Imputation ---------------------------------------------------------------------------------

def gappy(rng, shape=(300, 5), share=0.25):
    x = np.round(rng.standard_normal(shape) * 3, 1).astype(np.float32)
    x[rng.random(shape) < share] = np.nan
    return x


def most_frequent(column):
    values, counts = np.unique(column[~np.isnan(column)], return_counts=True)
    return values[counts == counts.max()].min()


def test_imputation_strategies_vs_numpy(rng):
    x = gappy(rng)
    expected = {"mean": np.nanmean(x.astype(np.float64), axis=0), "median": np.nanmedian(x, axis=0),
                "most_frequent": [most_frequent(c) for c in x.T], "constant": np.full(5, 2.5)}
    for strategy, values in expected.items():
        layer = Imputation(strategy, fill_value=2.5 if strategy == "constant" else None)
        layer.adapt(uneven_batches(x))
        np.testing.assert_allclose(layer.statistics, values, rtol=1e-6, err_msg=strategy)
        out = layer(x)
        assert np.array_equal(out, np.where(np.isnan(x), layer.statistics, x))


def test_imputation_median_sketch_beyond_capacity(rng, monkeypatch):
    """Past MEDIAN_CAPACITY values a feature's median comes from the sketch, within its rank bound."""
    monkeypatch.setattr(imputation, "MEDIAN_CAPACITY", 64)
    x = rng.standard_normal((5000, 2)).astype(np.float32)
    layer = Imputation("median")
    layer.adapt(x, batch_size=37)
    for column, estimate in zip(x.T, layer.statistics):
        rank = np.mean(column <= estimate)
        assert abs(rank - 0.5) <= np.log2(5000 / 64) / (2 * 64)


def test_imputation_gradient_and_unadapted_state(rng):
    x = gappy(rng, (6, 4), 0.3)
    layer = Imputation()
    assert np.isnan(layer(x)).sum() == np.isnan(x).sum()  # before adapt, gaps stay gaps
    layer.adapt(gappy(rng, (300, 4)))
    check_layer(layer, (6, 4), (6, 4), 4, x=x)


def test_imputation_errors():
    with pytest.raises(ValueError, match="strategy"):
        Imputation("mode")
    with pytest.raises(ValueError, match="fill_value is for"):
        Imputation("mean", fill_value=1.0)
    with pytest.raises(ValueError, match="feature 1 has no value"):
        Imputation("median").adapt(np.array([[1.0, np.nan], [2.0, np.nan]]))
    with pytest.raises(ValueError, match="infinity"):
        Imputation().adapt(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="known last dimension"):
        Imputation().build((None,))


def test_models_starting_with_imputation_take_nan(rng, tmp_path):
    x = gappy(rng, (256, 5))
    y = (np.nan_to_num(x[:, 0]) > 0).astype(np.float32)
    imputer = Imputation("median")
    imputer.adapt(x)
    norm = Normalization()
    norm.adapt(imputer(x))
    model = fastnn.Sequential([Input((5,)), imputer, norm, Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=32, validation_data=(x[:50], y[:50]), verbose=0)
    assert np.isfinite(history.history["loss"]).all() and np.isfinite(history.history["val_loss"]).all()
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()
    assert np.isfinite(model.predict(x, verbose=0)).all()
    model.fit(((x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)), steps_per_epoch=8, verbose=0)  # a generator
    roundtrip(model, tmp_path, x)

    inputs = [Input((5,), name="gappy"), Input((2,), name="clean")]
    merged = fastnn.layers.Concatenate()([Imputation("constant")(inputs[0]), Rescaling(0.5)(inputs[1])])
    two_inputs = fastnn.Model(inputs, Dense(1)(merged))
    two_inputs.compile(optimizer="sgd", loss="mse")
    clean = np.nan_to_num(x[:, :2])
    two_inputs.fit([x, clean], y, epochs=1, verbose=0)  # NaN is accepted input by input
    with pytest.raises(ValueError, match="input 'clean' contains NaN"):
        two_inputs.fit([x, x[:, :2]], y, verbose=0)

    preprocessing = fastnn.Sequential([Input((5,)), Imputation("constant"), Rescaling(0.1)])
    nested = fastnn.Sequential([Input((5,)), preprocessing, Dense(1)])  # Keras's preprocessing-model pattern
    nested.compile(optimizer="sgd", loss="mse")
    nested.fit(x, y, epochs=1, verbose=0)

    plain = fastnn.Sequential([Input((5,)), Dense(1)])
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="Imputation layer"):
        plain.fit(x, y, verbose=0)
    late = fastnn.Sequential([Input((5,)), Dense(5), Imputation("constant"), Dense(1)])
    late.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="NaN"):
        late.fit(x, y, verbose=0)


# ---- Discretization -----------------------------------------------------------------------------

def test_discretization_matches_keras():
    layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    out = layer(np.array([[-1.5, 0.0, 0.5, 1.0, 2.0, 3.0, np.nan]], np.float32))
    assert out.dtype == np.int64 and out.tolist() == [[0, 1, 1, 2, 3, 3, 3]]
    adapted = Discretization(num_bins=4)
    adapted.adapt(np.arange(100, dtype=np.float32).reshape(-1, 1))
    np.testing.assert_allclose(adapted.bin_boundaries, [24.0, 49.0, 74.0], atol=1e-4)  # Keras: 23.99998...
    small = Discretization(num_bins=3)
    small.adapt(np.array([1.0, 1.0, 1.0, 2.0, 5.0, 7.0]).reshape(-1, 1))
    np.testing.assert_allclose(small.bin_boundaries, [1.0, 2.0], atol=1e-6)
    keras_outputs = {"one_hot": [[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [0, 0, 1]]],
                     "multi_hot": [[1, 1, 0], [0, 0, 1]], "count": [[1, 1, 0], [0, 0, 2]]}
    for mode, expected in keras_outputs.items():
        layer = Discretization(bin_boundaries=[0.0, 1.0], output_mode=mode)
        out = layer(np.array([[-1.0, 0.5], [2.0, 2.0]], np.float32))
        assert out.dtype == np.float32 and out.tolist() == expected
        assert layer.compute_output_shape((None, 1)) == (None, 3)


def test_discretization_sketch_keeps_its_rank_error(rng, monkeypatch):
    x = rng.standard_normal(200_000)
    layer = Discretization(num_bins=10, epsilon=0.01)
    monkeypatch.setattr("fastnn.layers.preprocessing.discretization.sketch_capacity", lambda eps: 1024)
    layer.adapt(uneven_batches(x, (999, 5000, 17)))
    ranks = np.searchsorted(np.sort(x), layer.bin_boundaries) / x.size
    assert np.abs(ranks - np.arange(1, 10) / 10).max() <= np.log2(x.size / 1024) / (2 * 1024)


def test_quantile_sketch_is_exact_then_bounded_and_deterministic(rng):
    sketch = statistics.QuantileSketch(256)
    values = rng.standard_normal(200)
    sketch.add(values)
    assert sketch.exact and sketch.median() == np.median(values)
    more = rng.standard_normal(50_000)
    for part in np.array_split(more, 37):
        sketch.add(part)
    assert not sketch.exact
    data = np.sort(np.concatenate([values, more]))
    for q in (0.1, 0.5, 0.9):
        rank = np.searchsorted(data, sketch.cumulative_quantiles([q])[0]) / data.size
        assert abs(rank - q) <= np.log2(data.size / 256) / 512 + 1 / data.size
    again = statistics.QuantileSketch(256)
    for part in [values] + np.array_split(more, 37):
        again.add(part)
    assert np.array_equal(sketch.summary()[0], again.summary()[0])


def test_discretization_config_gradient_and_errors(rng, tmp_path):
    layer = Discretization(num_bins=5, output_mode="one_hot")
    layer.adapt(rng.standard_normal((100, 1)))
    config = layer.get_config()
    clone = Discretization.from_config(config)
    assert clone.bin_boundaries == layer.bin_boundaries and clone.get_config() == config
    x = rng.standard_normal((50, 1)).astype(np.float32)
    model = fastnn.Sequential([Input((1,)), layer, Dense(1)])
    roundtrip(model, tmp_path, x)
    inputs = Input((3,))
    mid = fastnn.Model(inputs, Dense(1)(Discretization([0.0], output_mode="multi_hot")(Dense(3)(inputs))))
    mid.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no gradient"):
        mid.fit(rng.standard_normal((8, 3)), np.zeros(8), verbose=0)
    with pytest.raises(ValueError, match="sorted"):
        Discretization(bin_boundaries=[1.0, 0.0])
    with pytest.raises(ValueError, match="adapt it first"):
        Discretization(num_bins=3)(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="construct it with num_bins"):
        Discretization(bin_boundaries=[0.0]).adapt(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="only NaN"):
        Discretization(num_bins=2).adapt(np.full((3, 1), np.nan))
    with pytest.raises(ValueError, match="output_mode"):
        Discretization(num_bins=2, output_mode="tf_idf")


# ---- the target -------------------------------------------------------------------------

def digits_accuracy(normalize_inside, seed=0):
    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits()
    fastnn.set_seed(seed)
    if normalize_inside:
        norm = Normalization()
        norm.adapt(x_train)
        front = [Input((64,)), norm]
    else:
        x_train, x_test = fastnn.datasets.standardize(x_train, x_test)
        front = [Input((64,))]
    model = fastnn.Sequential(front + [Dense(64, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    return model.evaluate(x_test, y_test, verbose=0)[1]


def test_digits_in_model_normalization_matches_outside_standardisation():
    """The issue's target: the digits MLP with Normalization adapted on the training set inside the
    model (taking raw pixels) is as accurate as the same MLP on data standardised outside."""
    inside, outside = digits_accuracy(True), digits_accuracy(False)
    assert inside >= 0.94 and abs(inside - outside) <= 0.01, (inside, outside)


def test_normalization_adapts_to_a_dataframe_as_fit_takes_one():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0, 60.0]})
    layer = Normalization()
    layer.adapt(frame)
    np.testing.assert_allclose(layer.mean.ravel(), [2.0, 30.0], rtol=1e-6)
