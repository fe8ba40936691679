"""Keras habits users reach for (utilities, custom losses and metrics, batch sources, clear errors for
what fastnn lacks), and bad input that must give an error rather than a number."""
import random

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Input
from fastnn.models import Sequential


def small_model(loss="mse", units=1, activation=None, metrics=None):
    fastnn.set_seed(0)
    model = Sequential([Input((4,)), Dense(6, activation="relu"), Dense(units, activation=activation)])
    model.compile(optimizer=fastnn.optimizers.SGD(0.1), loss=loss, metrics=metrics)
    return model


def test_to_categorical():
    out = fastnn.utils.to_categorical([[0], [2], [1]], num_classes=4)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[0, 2, 1]])
    assert fastnn.utils.to_categorical(np.array([1, 0])).shape == (2, 2)
    with pytest.raises(ValueError, match="outside"):
        fastnn.utils.to_categorical([3], num_classes=3)


class LogCosh(fastnn.losses.Loss):
    def call(self, y_true, y_pred):
        return np.mean(np.log(np.cosh(y_pred - y_true)), axis=-1)

    def gradient(self, y_true, y_pred):
        return np.tanh(y_pred - y_true) / y_pred.shape[-1]


def test_custom_loss_defines_value_and_gradient_in_numpy():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)).astype(np.float32)
    weights = rng.random(5)
    loss, grad = LogCosh().value_and_grad(y_true, y_pred, weights)
    per_sample = np.mean(np.log(np.cosh(y_pred - y_true)), axis=-1)
    np.testing.assert_allclose(loss, np.sum(per_sample * weights) / 5, rtol=1e-6)
    eps = 1e-4
    for index in [(0, 0), (3, 2)]:
        bumped = y_pred.astype(np.float64)
        bumped[index] += eps
        up = np.sum(np.mean(np.log(np.cosh(bumped - y_true)), axis=-1) * weights) / 5
        np.testing.assert_allclose(grad[index], (up - loss) / eps, rtol=1e-3, atol=1e-6)
    model = small_model(loss=LogCosh(), units=3)
    history = model.fit(rng.standard_normal((64, 4)), rng.standard_normal((64, 3)), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


class MaxError(fastnn.metrics.Metric):
    _default_name = "max_error"

    def reset_state(self):
        self.value = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value = max(self.value, float(np.max(np.abs(np.asarray(y_pred) - np.asarray(y_true)))))

    def result(self):
        return self.value


def test_custom_metric_in_fit_and_evaluate():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 4)), rng.standard_normal((40, 1))
    model = small_model(metrics=[MaxError()])
    history = model.fit(x, y, epochs=2, verbose=0)
    assert "max_error" in history.history
    loss, max_error = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(max_error, np.abs(model.predict(x, verbose=0) - y).max(), rtol=1e-5)


class Batches(fastnn.data.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_seen = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_seen += 1


def test_fit_evaluate_predict_on_batch_sources():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((50, 1))
    model = small_model()
    arrays = small_model()
    source = Batches(x, y, 10)
    model.fit(source, epochs=2, verbose=0)
    arrays.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), arrays.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert source.epochs_seen == 2
    np.testing.assert_allclose(model.evaluate(source, verbose=0), arrays.evaluate(x, y, batch_size=10, verbose=0),
                               rtol=1e-6)
    np.testing.assert_array_equal(model.predict(source, verbose=0), model.predict(x, verbose=0))

    def endless():
        while True:
            for i in range(0, 50, 10):
                yield x[i:i + 10], y[i:i + 10]

    history = small_model().fit(endless(), steps_per_epoch=5, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    with pytest.raises(ValueError, match="tuples"):
        small_model().fit((b for b in [x]), epochs=1, verbose=0)


def test_a_source_without_batches_is_refused_not_scored_zero():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((20, 4)), rng.standard_normal((20, 1))
    model = small_model()
    for call in (lambda: model.fit((b for b in []), verbose=0), lambda: model.evaluate(iter([]), verbose=0),
                 lambda: model.predict((b for b in []), verbose=0),
                 lambda: model.fit(x, y, validation_data=(b for b in []), verbose=0)):
        with pytest.raises(ValueError, match="generator yielded no batches"):
            call()
    with pytest.raises(ValueError, match="Batches has no batches"):
        model.fit(Batches(x[:0], y[:0], 10), verbose=0)
    # a finite generator used up by the first epoch ends training instead of logging a loss of 0.0
    with pytest.warns(RuntimeWarning, match="ran out of data at epoch 2"):
        history = model.fit(((x[i:i + 10], y[i:i + 10]) for i in (0, 10)), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1 and history.history["loss"][0] > 0


@pytest.mark.parametrize("name", ["steps_per_epoch", "validation_steps"])
@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_step_counts_must_be_positive_ints(name, value, error):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((20, 4)), rng.standard_normal((20, 1))
    with pytest.raises(error, match=f"fit: {name} must be a positive int"):
        small_model().fit(x, y, validation_data=(x, y), verbose=0, **{name: value})


def test_evaluate_and_predict_steps_must_be_positive_ints():
    x = np.ones((8, 4))
    model = small_model()
    with pytest.raises(ValueError, match="evaluate: steps must be a positive int"):
        model.evaluate(x, np.ones(8), steps=0, verbose=0)
    with pytest.raises(ValueError, match="predict: steps must be a positive int"):
        model.predict(x, steps=-2, verbose=0)


def test_what_fastnn_lacks_is_named():
    with pytest.raises(AttributeError, match="does not implement the Keras layer MultiHeadAttention"):
        fastnn.layers.MultiHeadAttention
    assert not hasattr(fastnn.layers, "ConvLSTM2D")
    with pytest.raises(TypeError, match="learning_rate"):
        fastnn.optimizers.Adam(lr=0.01)


def test_bad_input_gives_an_error_not_a_number():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 1))
    model = small_model()
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        model.fit(x, y, epochs=-1)
    for call in (lambda: model.evaluate(x[:0], y[:0]), lambda: model.train_on_batch(x[:0], y[:0]),
                 lambda: model.test_on_batch(x[:0], y[:0])):
        with pytest.raises(ValueError, match="no samples"):
            call()
    huge = x.copy()
    huge[2, 1] = 1e39
    with pytest.raises(ValueError, match=r"1e\+39 at index \(2, 1\) overflows float32"):
        model.fit(huge, y, verbose=0)
    with pytest.raises(ValueError, match=r"binary_crossentropy needs targets in \[0, 1\]; sample 3 has 2.0"):
        small_model("binary_crossentropy", activation="sigmoid").fit(x, [0, 1, 0, 2, 1, 0, 1, 0], verbose=0)


def test_sparse_label_out_of_range_is_named_before_any_weight_changes():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((100, 4))
    labels = rng.integers(0, 3, 100)
    labels[77] = 3
    model = small_model("sparse_categorical_crossentropy", units=3, activation="softmax")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"labels in \[0, 3\) .*sample 77 has 3"):
        model.fit(x, labels, batch_size=10, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="whole numbers"):
        model.fit(x, labels + 0.5, verbose=0)


def test_one_dimensional_columns_feed_inputs_of_shape_1_as_in_keras():
    """fit(dict(df), y) hands each Input((1,)) a 1-D column; Keras adds the last axis, numbers included."""
    rng = np.random.default_rng(0)
    age, rooms = rng.random(20).astype(np.float32), rng.integers(0, 5, 20)
    a, r = Input((1,), name="age"), Input((1,), dtype="int64", name="rooms")
    rooms_vector = fastnn.layers.Flatten()(fastnn.layers.Embedding(5, 2)(r))
    model = fastnn.Model([a, r], Dense(1)(fastnn.layers.concatenate([a, rooms_vector])))
    model.compile("sgd", "mse")
    model.fit({"age": age, "rooms": rooms}, age, epochs=1, verbose=0)
    columns = model.predict({"age": age[:, None], "rooms": rooms[:, None]}, verbose=0)
    np.testing.assert_array_equal(model.predict({"age": age, "rooms": rooms}, verbose=0), columns)
    single = Sequential([Input((1,)), Dense(2)])
    assert single.predict(age, verbose=0).shape == (20, 2)
    with pytest.raises(ValueError):
        single.predict(np.zeros((20, 3), np.float32))


def test_keras_spellings_of_models_io_pooling_and_seeding(tmp_path):
    layers = fastnn.layers
    assert (layers.MaxPool1D, layers.MaxPool2D, layers.AvgPool1D, layers.AvgPool2D) == (
        layers.MaxPooling1D, layers.MaxPooling2D, layers.AveragePooling1D, layers.AveragePooling2D)
    assert (layers.GlobalMaxPool1D, layers.GlobalMaxPool2D, layers.GlobalAvgPool1D, layers.GlobalAvgPool2D) == (
        layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalAveragePooling1D,
        layers.GlobalAveragePooling2D)
    model = small_model()
    fastnn.models.save_model(model, tmp_path / "m.fnn")
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(fastnn.models.load_model(tmp_path / "m.fnn").predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    draws = []
    for _ in range(2):
        fastnn.utils.set_random_seed(5)
        draws.append((np.random.rand(), random.random(), fastnn.initializers.GlorotUniform()((2, 2))))
    assert draws[0][:2] == draws[1][:2]
    np.testing.assert_array_equal(draws[0][2], draws[1][2])


def test_plain_metric_functions_are_averaged_and_plain_losses_refused_with_a_recipe(tmp_path):
    def mean_abs_err(y_true, y_pred):
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    model = small_model(metrics=[mean_abs_err, "mae"])
    x = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    y = np.random.default_rng(1).random((10, 1)).astype(np.float32)
    logs = model.evaluate(x, y, batch_size=3, verbose=0, return_dict=True)
    assert logs["mean_abs_err"] == pytest.approx(logs["mae"], rel=1e-6)
    with pytest.raises(TypeError, match="'mean_abs_err' is a Python function.*save_weights"):
        model.save(tmp_path / "m.fnn")
    assert not list(tmp_path.iterdir())
    with pytest.raises(TypeError, match=r"loss 'mean_abs_err' is a plain function.*Subclass fastnn.losses.Loss"):
        small_model(loss=mean_abs_err)


def test_a_validation_generator_is_scored_every_epoch():
    """fit scores validation_data every epoch, but a generator runs dry after the first: its batches are
    replayed, so each epoch reports the real validation metrics of the current weights (as Keras does),
    never 0.0."""
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 4)), rng.standard_normal((40, 1))
    model = small_model()
    history = model.fit(x, y, epochs=3, batch_size=10, verbose=0,
                        validation_data=((x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)))
    assert len(set(history.history["val_loss"])) == 3
    np.testing.assert_allclose(history.history["val_loss"][-1], model.evaluate(x, y, batch_size=10, verbose=0),
                               rtol=1e-6)
