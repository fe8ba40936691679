"""Callbacks: EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN, CSVLogger, ModelCheckpoint, Lambda."""
import csv
import math

import numpy as np
import pytest

import fastnn
from fastnn import callbacks
from fastnn.layers import Dense
from fastnn.models import Sequential


class FakeOptimizer:
    learning_rate = 1.0


class FakeModel:
    """Just what the callbacks touch: weights, stop_training and an optimizer."""

    def __init__(self):
        self.value = 0
        self.stop_training = False
        self.optimizer = FakeOptimizer()

    def get_weights(self):
        return [np.array([self.value])]

    def set_weights(self, weights):
        self.value = int(weights[0][0])


def drive(callback, values, monitor="val_loss"):
    """Run epochs with the given monitored values (the model's 'weights' = epoch index) until stopped."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        model.value = epoch
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {monitor: value})
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return model, epochs


def small_model(lr=0.05, optimizer="sgd"):
    fastnn.set_seed(0)
    model = Sequential([Dense(4, activation="relu", input_dim=3), Dense(1, activation="sigmoid")])
    opt = fastnn.optimizers.SGD(learning_rate=lr) if optimizer == "sgd" else optimizer
    model.compile(optimizer=opt, loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((64, 3)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) > 1.5).astype(np.float32)
    return model, x, y


def test_early_stopping_patience_and_restore_best_weights():
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model, epochs = drive(stopper, [3.0, 1.0, 2.0, 2.0, 2.0, 0.5])
    assert epochs == 4 and stopper.stopped_epoch == 3
    assert model.value == 1  # weights of the best epoch restored

    model, epochs = drive(callbacks.EarlyStopping(patience=2), [3.0, 1.0, 2.0, 2.0, 2.0])
    assert epochs == 4 and model.value == 3  # no restore without restore_best_weights


def test_early_stopping_mode_min_delta_and_start_epoch():
    _, epochs = drive(callbacks.EarlyStopping(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.7, 0.6, 0.6],
                      monitor="val_accuracy")
    assert epochs == 4  # 'auto' maximises accuracy
    _, epochs = drive(callbacks.EarlyStopping(min_delta=0.5, patience=1), [3.0, 2.9, 2.8, 2.7])
    assert epochs == 2  # improvements smaller than min_delta do not count
    _, epochs = drive(callbacks.EarlyStopping(patience=0, start_from_epoch=3), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert epochs == 5


def test_early_stopping_in_fit_with_constant_loss():
    model, x, y = small_model(lr=0.0)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="loss", patience=2)])
    assert len(history.history["loss"]) == 3


def test_reduce_lr_on_plateau():
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    model, _ = drive(reducer, [1.0] * 5)
    # reductions at epochs 2 and 4 (the cooldown epoch resets the wait), then clamped at min_lr
    assert model.optimizer.learning_rate == pytest.approx(0.25)
    model, _ = drive(reducer, [1.0] * 8)
    assert model.optimizer.learning_rate == pytest.approx(0.2)
    model, _ = drive(reducer, [1.0, 0.9, 0.8, 0.7, 0.6])
    assert model.optimizer.learning_rate == 1.0

    model, x, y = small_model(lr=0.1)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[
        callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)])
    # logs carry the rate the epoch trained with; the first epoch sets `best`, so reductions start at epoch 1
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)


def test_learning_rate_scheduler_sets_lr():
    model, x, y = small_model(lr=0.5)
    seen = []
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: seen.append(lr) or 0.1 * (epoch + 1))])
    assert seen[0] == pytest.approx(0.5) and seen[1:] == pytest.approx([0.1, 0.2])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")])


def poison(model):
    weights = model.get_weights()
    weights[-1][:] = np.nan
    model.set_weights(weights)


def test_terminate_on_nan_stops_and_otherwise_warns_once():
    model, x, y = small_model()
    poison(model)
    batches = []
    counter = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(logs["loss"]))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callbacks.TerminateOnNaN(), counter])
    assert len(batches) == 1 and math.isnan(batches[0])
    assert len(history.history["loss"]) == 1

    model, x, y = small_model()
    poison(model)
    with pytest.warns(RuntimeWarning, match="loss is nan") as record:
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len([w for w in record if "loss is nan" in str(w.message)]) == 1
    assert len(history.history["loss"]) == 2


def test_csv_logger_writes_rows(tmp_path):
    model, x, y = small_model()
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path, append=True)])
    rows = list(csv.reader(open(path)))
    assert len(rows) == 6 and rows[4][0] == "0"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=";")])
    lines = open(path).read().splitlines()
    assert lines[0] == "epoch;accuracy;loss" and len(lines) == 2


def test_csv_logger_sorts_columns_and_writes_metrics_of_several_values(tmp_path):
    model, x, y = small_model()
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[fastnn.metrics.Recall(thresholds=[0.3, 0.6]), "accuracy"])
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
                        callbacks=[callbacks.ReduceLROnPlateau(), callbacks.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "learning_rate", "loss", "recall", "val_accuracy", "val_loss",
                       "val_recall"]
    assert rows[2][4] == f"[{', '.join(map(str, history.history['recall'][1]))}]"


def test_lambda_callback_hooks_and_counts():
    model, x, y = small_model()
    events = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                                  on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch, sorted(logs))),
                                  on_train_batch_begin=lambda batch, logs: events.append(batch),
                                  on_train_end=lambda logs: events.append("end"))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    assert events == ["begin", 0, 1, ("epoch", 0, ["accuracy", "loss"]), 0, 1, ("epoch", 1, ["accuracy", "loss"]),
                      "end"]
    with pytest.raises(TypeError):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_stop_training_from_a_batch_hook():
    model, x, y = small_model()

    class StopAfterTwo(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[StopAfterTwo()])
    assert len(history.history["loss"]) == 1


def test_model_checkpoint_formats_path_and_saves_best_only(tmp_path):
    model, x, y = small_model()
    saved = []
    model.save_weights = lambda path: saved.append(("weights", path))
    model.save = lambda path: saved.append(("model", path))
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}.fnn")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True)])
    assert [kind for kind, _ in saved] == ["weights", "weights"]
    assert saved[0][1].startswith(str(tmp_path / "ckpt-01-")) and saved[1][1].endswith(".fnn")

    saved.clear()
    best = callbacks.ModelCheckpoint(str(tmp_path / "best.fnn"), monitor="loss", save_best_only=True)
    best.set_model(model)
    for epoch, loss in enumerate([1.0, 2.0, 0.5, 0.7]):
        best.on_epoch_end(epoch, {"loss": loss})
    assert len(saved) == 2 and saved[0][0] == "model"


def test_callback_assigns_the_learning_rate_as_in_keras():
    """A warm-up written for Keras: self.model.optimizer.learning_rate.assign(...) in a callback sets the
    rate the next step uses (a rate of 0 leaves the weights where they were), and the rate reads as a
    float with numpy()."""
    class Hold(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate.assign(0.0)

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 3)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizer=fastnn.optimizers.SGD(0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Hold()])
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    rate = model.optimizer.learning_rate
    assert rate == 0.0 and rate.numpy().dtype == np.float32 and isinstance(rate * 2, float)
    rate.assign(0.05)
    assert model.optimizer.learning_rate == 0.05
    with pytest.raises(ValueError, match="finite and >= 0"):
        rate.assign(-1.0)
