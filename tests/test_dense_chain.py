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


def _fit(monkeypatch, use_chain, build, x, y, batch_sizes=(32, 5, 64)):
    """Weights and history after fits at several batch sizes, with or without the chain."""
    if not use_chain:
        monkeypatch.setattr(trainer, "dense_chain", lambda plan, model: None)
    model = build()
    histories = [model.fit(x, y, epochs=2, batch_size=b, verbose=0, shuffle=True).history for b in batch_sizes]
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
