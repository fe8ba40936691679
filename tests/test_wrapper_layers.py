"""Bidirectional and TimeDistributed: Keras's merge modes, masks and states against NumPy references
built from tests/reference.py, finite differences, weights, freezing, configs and files."""
import numpy as np
import pytest

import fastnn
from fastnn.engine.context import CallContext
from fastnn.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN, TimeDistributed

import reference as ref
from layer_helpers import check_layer

MERGES = {"concat": lambda f, b: np.concatenate([f, b], axis=-1), "sum": np.add, "mul": np.multiply,
          "ave": lambda f, b: (f + b) / 2}


def reference_bidirectional(layer, x, mask, merge_mode):
    """Keras's Bidirectional: the backward layer runs go_backwards and its sequence is flipped back;
    with return_sequences both output zeros at masked steps."""
    outputs = []
    for inner in (layer.forward_layer, layer.backward_layer):
        cell = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}[type(inner).__name__]
        if cell == "gru" and not inner.reset_after:
            cell = "gru_reset_before"
        y, h, c, _ = ref.rnn_forward(cell, x, inner.kernel, inner.recurrent_kernel, inner.bias, mask=mask,
                                     go_backwards=inner.go_backwards, return_sequences=inner.return_sequences,
                                     zero_output_for_mask=inner.return_sequences, activation=inner.activation.name,
                                     recurrent_activation=inner.recurrent_activation.name)
        if inner.go_backwards and inner.return_sequences:
            y = y[:, ::-1]
        outputs.append((y, [h, c][:inner.state_count]))
    (y_f, states_f), (y_b, states_b) = outputs
    merged = [y_f, y_b] if merge_mode is None else [MERGES[merge_mode](y_f, y_b)]
    return merged + (states_f + states_b if layer.return_state else [])


def run(layer, x, mask=None, training=False):
    ctx = CallContext(training)
    ctx.mask = mask
    if not layer.built:
        layer.build((None,) + x.shape[1:])
    out = layer.forward(ctx, x)
    return (out if isinstance(out, list) else [out]), ctx


MASK = np.array([[False, False, True, True, True], [True, True, True, False, False], [True, False, True, False, True]])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("inner", [lambda **kw: LSTM(4, **kw), lambda **kw: GRU(3, **kw)], ids=["lstm", "gru"])
def test_bidirectional_matches_the_reference(merge_mode, return_sequences, inner, rng):
    layer = Bidirectional(inner(return_sequences=return_sequences), merge_mode=merge_mode)
    x = rng.normal(size=(3, 5, 2)).astype(np.float32)
    got, _ = run(layer, x, MASK)
    want = reference_bidirectional(layer, x, MASK, merge_mode)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    shape = layer.compute_output_shape((None, 5, 2))
    shapes = shape if isinstance(shape, list) else [shape]
    assert [tuple(s[1:]) for s in shapes] == [w.shape[1:] for w in want]
    mask_out = layer.compute_mask(x, MASK)
    assert (mask_out if isinstance(mask_out, list) else [mask_out]) == [MASK if return_sequences else None] * len(want)


def test_bidirectional_states_and_a_backward_layer_of_its_own(rng):
    layer = Bidirectional(LSTM(3, return_state=True, return_sequences=True),
                          backward_layer=LSTM(3, return_state=True, return_sequences=True, go_backwards=True,
                                              activation="relu", name="mine"))
    assert layer.backward_layer.name == "mine" and layer.forward_layer.name.startswith("forward_lstm")
    x = rng.normal(size=(3, 5, 2)).astype(np.float32)
    got, _ = run(layer, x, MASK)
    want = reference_bidirectional(layer, x, MASK, "concat")
    assert len(got) == 5
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match="must differ in go_backwards"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3))
    with pytest.raises(ValueError, match="must agree on return_sequences"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3, go_backwards=True, return_sequences=True))
    with pytest.raises(TypeError, match="must be a SimpleRNN, LSTM or GRU"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        Bidirectional(LSTM(3), merge_mode="max")


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_check_layer(merge_mode, return_sequences):
    layer = Bidirectional(GRU(3, return_sequences=return_sequences), merge_mode=merge_mode)
    units = 6 if merge_mode == "concat" else 3
    check_layer(layer, (2, 4, 2), (2, 4, units) if return_sequences else (2, units), 2 * 3 * 3 * (2 + 3 + 2))


def test_bidirectional_list_outputs_and_states_by_finite_differences(rng):
    layer = Bidirectional(LSTM(3, return_sequences=True, return_state=True), merge_mode=None)
    x = rng.normal(size=(2, 4, 2)).astype(np.float32)
    mask = np.array([[True, True, False, True], [False, True, True, True]])
    outputs, ctx = run(layer, x, mask, training=True)
    assert len(outputs) == 6
    probes = [rng.normal(size=o.shape).astype(np.float32) for o in outputs]
    dx = layer.backward(ctx, probes)
    kernel_grad = layer.grads[3].copy()  # the backward layer's kernel

    def objective():
        return sum(float(np.sum(np.float64(o) * p)) for o, p in zip(run(layer, x, mask)[0], probes))

    for array, grad, index in ((x, dx, (0, 1, 1)), (x, dx, (1, 3, 0)), (layer.weights[3], kernel_grad, (1, 5))):
        saved = array[index]
        array[index] = saved + 1e-2
        plus = objective()
        array[index] = saved - 1e-2
        minus = objective()
        array[index] = saved
        np.testing.assert_allclose(grad[index], (plus - minus) / 2e-2, rtol=2e-2, atol=1e-3)


def test_weights_in_keras_order_freezing_and_initial_weights(rng):
    layer = Bidirectional(LSTM(2), name="bi")
    layer.build((None, 3, 4))
    assert [w.shape for w in layer.get_weights()] == [(4, 8), (2, 8), (8,)] * 2
    assert layer.weights[0] is layer.forward_layer.kernel and layer.weights[3] is layer.backward_layer.kernel
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()]
    seeded = Bidirectional(LSTM(2), weights=weights)
    seeded.build((None, 3, 4))
    for a, b in zip(seeded.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    model = fastnn.Sequential([fastnn.Input((3, 4)), layer, Dense(1)])
    layer.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = layer.get_weights()
    model.fit(rng.normal(size=(8, 3, 4)), np.ones((8, 1)), verbose=0)
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert not layer.forward_layer.trainable and len(model.trainable_weights) == 2


def test_time_distributed(rng):
    dense = Dense(3, activation="tanh")
    layer = TimeDistributed(dense)
    check_layer(layer, (2, 5, 4), (2, 5, 3), 15)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    got, _ = run(layer, x)
    np.testing.assert_allclose(got[0], np.tanh(x @ dense.kernel + dense.bias), rtol=1e-5, atol=1e-6)
    mask = MASK[:2]
    assert layer.compute_mask(x, mask) is mask
    with pytest.raises(ValueError, match="needs inputs of rank >= 3"):
        TimeDistributed(Dense(2))(fastnn.Input((4,)))


def test_wrappers_in_a_model_train_save_and_load(tmp_path, rng):
    fastnn.set_seed(4)
    ids = fastnn.Input((6,), dtype="int64")
    h = Embedding(30, 5, mask_zero=True)(ids)
    h = Bidirectional(SimpleRNN(4, return_sequences=True), merge_mode="sum")(h)
    h = TimeDistributed(Dense(3, activation="relu"))(h)
    out = Bidirectional(GRU(2, reset_after=False), merge_mode="ave")(h)
    model = fastnn.Model(ids, Dense(1, activation="sigmoid")(out))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = rng.integers(0, 30, size=(20, 6))
    y = rng.integers(0, 2, size=(20, 1))
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=5, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    path = tmp_path / "wrappers.fnn"
    model.save(path)
    restored = fastnn.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    config = model.get_config()["layers"][2]["config"]
    assert config["layer"]["class_name"] == "SimpleRNN" and config["backward_layer"]["config"]["go_backwards"]
    assert config["merge_mode"] == "sum"


def test_stateful_bidirectional_resets_both(rng):
    x = fastnn.Input((3, 2), batch_size=2)
    layer = Bidirectional(LSTM(2, stateful=True))
    model = fastnn.Model(x, layer(x))
    data = rng.normal(size=(2, 3, 2)).astype(np.float32)
    first = model.predict(data, verbose=0)
    assert not np.array_equal(model.predict(data, verbose=0), first)
    layer.reset_states()
    np.testing.assert_array_equal(model.predict(data, verbose=0), first)
    assert len(layer.non_trainable_weights) == 4
