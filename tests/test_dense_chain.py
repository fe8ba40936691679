"""fit's dense-chain fast path (fastnn/engine/dense_chain.py) against the general layer-by-layer step:
the same weights, bit for bit, wherever it applies, and the general path wherever it does not."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, layers
from fastnn.engine import trainer


def _data(rows=203, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    labels = rng.integers(0, classes, rows)
    return x, labels


def _model(hidden_act, out_units, out_act, loss, freeze_first=False, seed=3):
    fastnn.set_seed(seed)
    model = fastnn.Sequential([layers.Input((8,)), layers.Dense(12, activation=hidden_act),
                               layers.Dense(7, activation=hidden_act), layers.Dense(out_units, activation=out_act)])
    if freeze_first:
        model.layers[0].trainable = False
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def _fit(monkeypatch, use_chain, build, x, y, batch_sizes=(32, 5, 64), **fit_options):
    """Weights and history after fits at several batch sizes, with or without the chain."""
    if not use_chain:
        monkeypatch.setattr(trainer, "dense_chain", lambda plan, model: None)
    model = build()
    fit_options.setdefault("shuffle", True)
    histories = [model.fit(x, y, epochs=2, batch_size=b, verbose=0, **fit_options).history for b in batch_sizes]
    assert (model._runner().chain is not None) == use_chain
    monkeypatch.undo()
    return model.get_weights(), histories


CASES = [
    ("relu", 1, "sigmoid", "binary_crossentropy"),
    ("tanh", 1, None, "mse"),
    ("sigmoid", 3, "softmax", "categorical_crossentropy"),
    ("elu", 3, "softmax", "sparse_categorical_crossentropy"),
    ("linear", 1, "relu", "mae"),
]


@pytest.mark.parametrize("hidden_act, out_units, out_act, loss", CASES)
@pytest.mark.parametrize("freeze_first", [False, True])
def test_chain_fit_equals_the_general_step_bitwise(monkeypatch, hidden_act, out_units, out_act, loss, freeze_first):
    x, labels = _data()
    if loss == "categorical_crossentropy":
        y = fastnn.utils.to_categorical(labels, 3)
    elif loss == "sparse_categorical_crossentropy":
        y = labels
    else:
        y = (labels == 1).astype(np.float32).reshape(-1, 1)

    def build():
        return _model(hidden_act, out_units, out_act, loss, freeze_first)
    weights_chain, history_chain = _fit(monkeypatch, True, build, x, y)
    weights_plain, history_plain = _fit(monkeypatch, False, build, x, y)
    for a, b in zip(weights_chain, weights_plain):
        np.testing.assert_array_equal(a, b)
    assert history_chain == history_plain
    if freeze_first:
        frozen = build().get_weights()[:2]
        for a, b in zip(weights_chain[:2], frozen):
            np.testing.assert_array_equal(a, b)


LOSS_CASES = [
    (lambda: fastnn.losses.Huber(delta=0.5), "tanh", True),
    (lambda: fastnn.losses.MeanAbsoluteError(), "linear", True),
    (lambda: fastnn.losses.BinaryCrossentropy(from_logits=True), "linear", True),
    (lambda: fastnn.losses.BinaryCrossentropy(), "sigmoid", True),
    (lambda: fastnn.losses.BinaryCrossentropy(label_smoothing=0.1), "sigmoid", False),
    (lambda: fastnn.losses.MeanSquaredError(reduction="sum"), "sigmoid", False),
    (lambda: fastnn.losses.Poisson(), "relu", False),
]
rng = np.random.default_rng(5)
FIT_OPTIONS = [
    {},
    {"sample_weight": rng.random(203).astype(np.float32)},
    {"sample_weight": rng.random(203)},  # float64 weights: converted once, then the chain's layout
    {"class_weight": {0: 0.25, 1: 3.0}},
    {"validation_split": 0.25},
    {"validation_data": (rng.standard_normal((17, 8)).astype(np.float32), np.ones((17, 1), np.float32))},
    {"shuffle": False},
]


@pytest.mark.parametrize("make_loss, out_act, chain_runs_loss", LOSS_CASES)
@pytest.mark.parametrize("fit_options", FIT_OPTIONS)
def test_chain_loss_step_equals_the_general_step_bitwise(monkeypatch, make_loss, out_act, chain_runs_loss, fit_options):
    """The chain's loss_step (forward, the loss kernel and backward in one call) against the general
    step, with weights, class weights, validation, unshuffled and short last batches; losses it cannot
    run (label smoothing, the 'sum' reduction, non-pointwise) take the chain without the loss."""
    x, labels = _data()
    y = (labels == 1).astype(np.float32).reshape(-1, 1)

    def build():
        fastnn.set_seed(4)
        model = fastnn.Sequential([layers.Input((8,)), layers.Dense(6, activation="relu"),
                                   layers.Dense(1, activation=out_act)])
        model.compile(optimizer="adam", loss=make_loss(), metrics=["accuracy"], weighted_metrics=["mse"])
        return model
    model = build()
    assert model._runner().chain_loss == chain_runs_loss
    weights_chain, history_chain = _fit(monkeypatch, True, build, x, y, batch_sizes=(32, 7), **fit_options)
    weights_plain, history_plain = _fit(monkeypatch, False, build, x, y, batch_sizes=(32, 7), **fit_options)
    for a, b in zip(weights_chain, weights_plain):
        np.testing.assert_array_equal(a, b)
    assert history_chain == history_plain


def test_targets_outside_the_chain_layout_take_the_general_loss(monkeypatch):
    """1-D targets for a (rows, 1) output are lined up by Keras's shape rules on the general path: the
    chain's loss_step declines them (returns None) and the step still matches bitwise."""
    x, labels = _data()
    y = (labels == 1).astype(np.float32)
    build = lambda: _model("relu", 1, "sigmoid", "binary_crossentropy")  # noqa: E731
    chain = build()._runner().chain
    assert chain.loss_step(x[:4], y[:4], None) is None
    assert chain.loss_step(x[:4], y[:4].reshape(-1, 1).astype(np.float64), None) is None
    weights_chain, history_chain = _fit(monkeypatch, True, build, x, y)
    weights_plain, history_plain = _fit(monkeypatch, False, build, x, y)
    for a, b in zip(weights_chain, weights_plain):
        np.testing.assert_array_equal(a, b)
    assert history_chain == history_plain


def test_diverging_fit_matches_and_callbacks_read_the_same_logs(monkeypatch):
    """A learning rate that drives the loss to inf/NaN (the warning once, training goes on), and a
    callback that reads every batch's logs and stops training mid-epoch: the same with the chain."""
    x, labels = _data()
    y = (labels == 1).astype(np.float32).reshape(-1, 1) * 1e30

    class StopAtBatch(fastnn.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append(dict(logs))
            if len(self.seen) == 9:
                self.model.stop_training = True

    def run(use_chain):
        if not use_chain:
            monkeypatch.setattr(trainer, "dense_chain", lambda plan, model: None)
        fastnn.set_seed(2)
        model = fastnn.Sequential([layers.Input((8,)), layers.Dense(5, activation="relu"), layers.Dense(1)])
        model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=1e3), loss="mse", metrics=["mae"])
        with pytest.warns(RuntimeWarning, match="the loss is"):
            history = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history
        stop = StopAtBatch()
        with pytest.warns(RuntimeWarning, match="the loss is nan"):
            model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[stop])
        assert (model._runner().chain is not None) == use_chain
        monkeypatch.undo()
        return model.get_weights(), history, stop.seen
    chain, plain = run(True), run(False)
    for a, b in zip(chain[0], plain[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_equal(chain[1], plain[1])
    np.testing.assert_equal(chain[2], plain[2])
    assert len(chain[2]) == 9


def test_plans_the_chain_cannot_run_take_the_general_path():
    def runner(model):
        model.compile(optimizer="sgd", loss="mse")
        return model._runner()
    assert runner(fastnn.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(1)])).chain is not None
    assert runner(fastnn.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dropout(0.5),
                                     layers.Dense(1)])).chain is None
    assert runner(fastnn.Sequential([layers.Input((5, 4)), layers.Dense(3), layers.Dense(1)])).chain is None
    # gelu's backward reads its input, so it runs outside the epilogue in training
    assert runner(fastnn.Sequential([layers.Input((4,)), layers.Dense(3, activation="gelu"),
                                     layers.Dense(1)])).chain is None
    shared, inputs = layers.Dense(4), layers.Input((4,))
    assert runner(fastnn.Model(inputs, shared(shared(inputs)))).chain is None


def test_replaced_weights_are_checked_not_trusted():
    model = fastnn.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    chain = model._runner().chain
    x = np.ones((2, 4), np.float32)
    chain.forward(x)
    with pytest.raises(ValueError, match="dy must have shape"):
        chain.backward(np.ones((3, 1), np.float32))
    with pytest.raises(ValueError, match="x must have shape"):
        chain.forward(np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="float32"):
        chain.forward(np.ones((2, 4), np.float64))
    model.layers[0].kernel = np.ones((4, 3))
    with pytest.raises(TypeError, match="kernel"):
        chain.forward(x)
    model.layers[0].kernel = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="kernel must have shape"):
        chain.forward(x)


def test_chain_buffers_grow_with_the_batch():
    layer = layers.Dense(2)
    model = fastnn.Sequential([layers.Input((3,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    chain = model._runner().chain
    for rows in (1, 7, 3, 40, 0):
        x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_array_equal(chain.forward(x), _C.sgemm(x, layer.kernel, None, bias=layer.bias))
