"""SimpleRNN, LSTM and GRU layers: finite differences, Keras's semantics against hand-written NumPy
references (masks, go_backwards, return_state, stateful, dropout) and against numbers from Keras 3.15
itself, in models, saved and loaded."""
import numpy as np
import pytest

import fastnn
from fastnn.engine.context import CallContext
from fastnn.layers import GRU, LSTM, Dense, Embedding, SimpleRNN, TimeDistributed

import reference as ref
from layer_helpers import check_layer

LAYERS = {"lstm": lambda **kw: LSTM(5, **kw), "gru": lambda **kw: GRU(5, **kw),
          "gru_reset_before": lambda **kw: GRU(5, reset_after=False, **kw),
          "simple_rnn": lambda **kw: SimpleRNN(5, **kw)}
GATES = {"lstm": 4, "gru": 3, "gru_reset_before": 3, "simple_rnn": 1}


def param_count(cell, use_bias=True, features=3, units=5):
    bias = GATES[cell] * units * (2 if cell == "gru" else 1) if use_bias else 0
    return GATES[cell] * units * (features + units) + bias


def layer_weights(layer):
    """(kernel, recurrent_kernel, bias) as the reference takes them."""
    return layer.kernel, layer.recurrent_kernel, layer.bias


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("options", [dict(), dict(return_sequences=True), dict(go_backwards=True, return_sequences=True),
                                     dict(use_bias=False)], ids=str)
def test_check_layer(cell, options):
    layer = LAYERS[cell](**options)
    out = (3, 4, 5) if options.get("return_sequences") else (3, 5)
    check_layer(layer, (3, 4, 3), out, param_count(cell, options.get("use_bias", True)))


def run_layer(layer, x, mask=None, training=False):
    ctx = CallContext(training)
    ctx.mask = mask
    if not layer.built:
        layer.build((None,) + x.shape[1:])
    return layer.forward(ctx, x), ctx


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("options", [
    dict(return_sequences=True), dict(return_sequences=False), dict(go_backwards=True, return_sequences=True),
    dict(return_sequences=True, zero_output_for_mask=True), dict(go_backwards=True, return_sequences=False)], ids=str)
def test_masked_outputs_follow_keras(cell, options, rng):
    """A masked step carries the states and repeats the previous output (zeros before the first kept
    step; zeros always with zero_output_for_mask); go_backwards keeps the outputs in processing order."""
    layer = LAYERS[cell](**options)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    mask = np.array([[False] * 6, [False, False, True, True, True, True], [True, False, True, False, True, True],
                     [True, True, True, True, False, False]])
    y, _ = run_layer(layer, x, mask)
    want = ref.rnn_forward(cell, x, *layer_weights(layer), mask=mask, **options)[0]
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("cell", LAYERS)
def test_return_state(cell, rng):
    layer = LAYERS[cell](return_state=True, return_sequences=True, go_backwards=True)
    x = rng.normal(size=(2, 4, 3)).astype(np.float32)
    mask = np.array([[True, True, False, True], [False, True, True, False]])
    outputs, _ = run_layer(layer, x, mask)
    y, h, c, _ = ref.rnn_forward(cell, x, *layer_weights(layer), mask=mask, go_backwards=True, return_sequences=True)
    assert len(outputs) == (3 if cell == "lstm" else 2)
    for got, want in zip(outputs, (y, h, c)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    assert layer.compute_output_shape((None, 4, 3)) == [(None, 4, 5)] + [(None, 5)] * (len(outputs) - 1)
    assert layer.compute_mask(x, mask)[0] is mask and layer.compute_mask(x, mask)[1:] == [None] * (len(outputs) - 1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_return_state_gradients_by_finite_differences(cell, rng):
    """The backward of [y, h, c] with gradients on every output (dh and dc reach the kernel)."""
    layer = LAYERS[cell](return_state=True)
    x = rng.normal(size=(2, 3, 3)).astype(np.float32)
    mask = np.array([[True, False, True], [True, True, False]])
    outputs, ctx = run_layer(layer, x, mask, training=True)
    probes = [rng.normal(size=o.shape).astype(np.float32) for o in outputs]
    dx = layer.backward(ctx, probes)

    def objective(x_):
        return sum(float(np.sum(np.float64(o) * p)) for o, p in zip(run_layer(layer, x_, mask)[0], probes))

    grads = [layer.grads[0].copy(), dx]
    for array, grad, index in ((layer.kernel, grads[0], (1, 3)), (x, grads[1], (0, 2, 1)), (x, grads[1], (1, 0, 2))):
        saved = array[index]
        array[index] = saved + 1e-2
        plus = objective(x)
        array[index] = saved - 1e-2
        minus = objective(x)
        array[index] = saved
        np.testing.assert_allclose(grad[index], (plus - minus) / 2e-2, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_dropout_one_mask_a_sequence_in_training_only(cell, rng):
    """Training drops the inputs and the recurrent state with one mask a sequence each (the reference
    with x * mask and the recurrent mask gives the same outputs); inference drops nothing."""
    layer = LAYERS[cell](dropout=0.4, recurrent_dropout=0.3, return_sequences=True, seed=3)
    x = rng.normal(size=(3, 5, 3)).astype(np.float32)
    y, ctx = run_layer(layer, x, training=True)
    keep_in, keep_rec = ctx.input_dropout, ctx.recurrent_mask
    assert set(np.unique(keep_in)) <= {0.0, np.float32(1 / 0.6)} and keep_in.shape == (3, 3)
    assert set(np.unique(keep_rec)) <= {0.0, np.float32(1 / 0.7)} and keep_rec.shape == (3, 5)
    want = ref.rnn_forward(cell, x * keep_in[:, None, :], *layer_weights(layer), recurrent_mask=keep_rec,
                           return_sequences=True)[0]
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-6)
    plain = ref.rnn_forward(cell, x, *layer_weights(layer), return_sequences=True)[0]
    np.testing.assert_allclose(run_layer(layer, x)[0], plain, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru_reset_before"])
def test_dropout_backward_by_finite_differences(cell):
    layer = LAYERS[cell](dropout=0.3, recurrent_dropout=0.3, return_sequences=True, seed=5)

    def same_masks():
        layer._rng = np.random.default_rng(5)
    check_layer(layer, (3, 4, 3), (3, 4, 5), param_count(cell), before_forward=same_masks)


def test_unit_forget_bias_and_keras_defaults():
    layer = LSTM(3)
    layer.build((None, 2, 4))
    np.testing.assert_array_equal(layer.bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    config = layer.get_config()
    assert (config["activation"], config["recurrent_activation"]) == ("tanh", "sigmoid")
    assert config["recurrent_initializer"]["class_name"] == "Orthogonal" and config["unit_forget_bias"]
    assert GRU(2).get_config()["reset_after"] is True
    np.testing.assert_array_equal(LSTM(3, unit_forget_bias=False)(np.zeros((1, 2, 4)))[0], 0)
    with pytest.raises(ValueError, match="activation must be an elementwise activation"):
        LSTM(3, activation="softmax")
    with pytest.raises(ValueError, match="dropout must be a number in"):
        GRU(3, dropout=1.0)


def keras_case_model():
    """The model whose outputs Keras 3.15 (TensorFlow 2.21) gave for the weights below."""
    ids = fastnn.Input((5,), dtype="int64")
    h = Embedding(8, 3, mask_zero=True)(ids)
    a = fastnn.layers.Bidirectional(LSTM(2, return_sequences=True))(h)
    b = GRU(2, reset_after=False, go_backwards=True, return_state=True)(h)
    c = SimpleRNN(2, return_sequences=True)(h)
    model = fastnn.Model(ids, [a] + list(b) + [c])
    rng = np.random.default_rng(42)
    model.set_weights([np.round(rng.normal(scale=0.6, size=w.shape), 2).astype(np.float32)
                       for w in model.get_weights()])
    return model


def test_outputs_equal_keras_numbers():
    outputs = keras_case_model().predict(np.array([[0, 0, 3, 5, 7], [2, 4, 6, 0, 0], [1, 0, 2, 0, 3]]), verbose=0)
    bidirectional = np.array([
        [[0, 0, 0, 0], [0, 0, 0, 0], [0.044096, -0.108489, -0.045134, 0.013539],
         [0.042656, -0.110386, 0.061926, 0.003945], [0.057388, -0.168974, -0.084670, 0.019684]],
        [[0.105841, 0.000901, 0.018221, -0.010018], [0.100670, -0.086113, -0.110969, 0.023418],
         [0.217123, -0.024235, 0.013384, 0.009014], [0, 0, 0, 0], [0, 0, 0, 0]],
        [[0.172263, 0.061962, 0.176307, -0.052847], [0, 0, 0, 0], [0.116873, 0.033225, 0.033311, -0.009709],
         [0, 0, 0, 0], [0.054483, -0.090977, -0.065270, 0.008614]]])
    gru_last = np.array([[-0.224877, 0.595505], [0.143827, 0.740784], [0.519308, 0.817404]])
    simple = np.array([
        [[0, 0], [0, 0], [0.087377, -0.574357], [0.546561, 0.281710], [0.833914, -0.721390]],
        [[0.557501, 0.393978], [0.803138, -0.684920], [0.876568, 0.528974], [0.876568, 0.528974],
         [0.876568, 0.528974]],
        [[0.887111, 0.939562], [0.887111, 0.939562], [0.977341, -0.481971], [0.977341, -0.481971],
         [0.799639, -0.702709]]])
    for got, want in zip(outputs, [bidirectional, gru_last, gru_last, simple]):
        np.testing.assert_allclose(got, want, atol=2e-6)


def stateful_model(cell="lstm", batch=2):
    fastnn.set_seed(1)
    x = fastnn.Input((3, 4), batch_size=batch)
    layer = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}[cell](6, stateful=True, return_sequences=True)
    return fastnn.Model(x, layer(x)), layer


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_stateful_carries_states_between_batches(cell, rng):
    """Two batches of 3 steps on a stateful layer are one sequence of 6 steps; reset_states starts over."""
    model, layer = stateful_model(cell)
    x = rng.normal(size=(2, 6, 4)).astype(np.float32)
    first, second = model.predict(x[:, :3], verbose=0), model.predict(x[:, 3:], verbose=0)
    want, h, c, _ = ref.rnn_forward(cell, x, *layer_weights(layer), return_sequences=True)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(layer.states[0], h, rtol=2e-5, atol=2e-6)
    assert [w.shape for w in layer.non_trainable_weights] == [(2, 6)] * layer.state_count
    layer.reset_states()
    np.testing.assert_array_equal(model.predict(x[:, :3], verbose=0), first)
    with pytest.raises(ValueError, match="stateful with batch size 2; got a batch of 3"):
        model.predict(np.zeros((3, 3, 4), np.float32), batch_size=3, verbose=0)


def test_stateful_needs_a_fixed_batch_and_is_saved(tmp_path, rng):
    with pytest.raises(ValueError, match="needs a fixed batch size"):
        LSTM(3, stateful=True)(fastnn.Input((3, 4)))
    sequential = fastnn.Sequential([LSTM(3, stateful=True, input_shape=(3, 4), batch_size=2)])
    assert sequential.inputs[0].shape == (2, 3, 4)
    model, layer = stateful_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.normal(size=(4, 3, 4)).astype(np.float32), rng.normal(size=(4, 3, 6)).astype(np.float32)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert layer.grads[3:] == [None, None]  # the states are never trained
    path = tmp_path / "stateful.fnn"
    model.save(path)
    restored = fastnn.load_model(path)
    np.testing.assert_array_equal(restored.layers[1].states[0], layer.states[0])
    np.testing.assert_array_equal(restored.predict(x[:2], verbose=0), model.predict(x[:2], verbose=0))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_layer_in_a_model_masks_the_loss_and_saves(cell, tmp_path, rng):
    fastnn.set_seed(2)
    model = fastnn.Sequential([fastnn.Input((6,), dtype="int64"), Embedding(20, 4, mask_zero=True),
                               LAYERS[cell](return_sequences=True, dropout=0.1, recurrent_dropout=0.1),
                               TimeDistributed(Dense(1))])
    model.compile(optimizer="adam", loss="mse")
    ids = rng.integers(1, 20, size=(16, 6))
    ids[:, 4:] = 0
    y = rng.normal(size=(16, 6, 1)).astype(np.float32)
    loss = model.evaluate(ids, y, verbose=0)
    y_changed = y.copy()
    y_changed[:, 4:] = 100.0  # targets at masked steps do not count
    assert model.evaluate(ids, y_changed, verbose=0) == loss
    model.fit(ids, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "rnn.fnn"
    model.save(path)
    restored = fastnn.load_model(path)
    np.testing.assert_array_equal(restored.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_bad_input_is_refused():
    layer = LSTM(3)
    layer.build((None, 4, 2))
    with pytest.raises(ValueError, match=r"expected input \(batch, steps, 2\), got shape \(1, 4, 3\)"):
        layer.forward(CallContext(), np.zeros((1, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"needs inputs \(batch, steps, features\)"):
        LSTM(3)(fastnn.Input((4,)))


def test_one_row_alone_equals_that_row_in_a_batch(rng):
    """Inference is batch-invariant: a sequence's output has the same bits alone, at any position and
    in any batch size, masks and a Bidirectional layer included."""
    from fastnn.layers import Bidirectional

    fastnn.set_seed(3)
    model = fastnn.Sequential([fastnn.Input((9,), dtype="int64"), Embedding(30, 8, mask_zero=True),
                               Bidirectional(LSTM(16, return_sequences=True)), GRU(12), Dense(1)])
    ids = rng.integers(1, 30, size=(37, 9))
    ids[::3, 6:] = 0
    batch = model.predict(ids, batch_size=37, verbose=0)
    for row in (0, 5, 36):
        np.testing.assert_array_equal(model.predict(ids[row:row + 1], verbose=0), batch[row:row + 1])
    np.testing.assert_array_equal(model.predict(ids[3:10], verbose=0), batch[3:10])


def test_model_gradients_by_finite_differences(rng):
    """One SGD step (learning rate 1) of a masked model with every recurrent kind moves each weight by
    its gradient; central differences of evaluate's loss agree."""
    from fastnn.layers import Bidirectional

    fastnn.set_seed(4)
    model = fastnn.Sequential([fastnn.Input((5,), dtype="int64"), Embedding(12, 3, mask_zero=True),
                               Bidirectional(GRU(4, return_sequences=True, reset_after=False), merge_mode="ave"),
                               SimpleRNN(3, return_sequences=True), LSTM(3), Dense(1)])
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=1.0), loss="mse")
    ids = rng.integers(1, 12, size=(6, 5))
    ids[:2, 3:] = 0
    y = rng.normal(size=(6, 1)).astype(np.float32)
    before = model.get_weights()
    model.train_on_batch(ids, y)
    grads = [b - a for b, a in zip(before, model.get_weights())]
    eps = np.float32(1e-2)
    for k, (weight, grad) in enumerate(zip(before, grads)):
        for index in [tuple(rng.integers(0, n) for n in weight.shape) for _ in range(2)]:
            losses = []
            for sign in (1, -1):
                moved = [w.copy() for w in before]
                moved[k][index] += sign * eps
                model.set_weights(moved)
                losses.append(model.evaluate(ids, y, verbose=0))
            numeric = (losses[0] - losses[1]) / (2 * eps)
            assert abs(numeric - grad[index]) <= 5e-4 + 2e-2 * abs(numeric), (k, index, numeric, grad[index])
