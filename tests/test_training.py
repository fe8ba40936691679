"""The training loop: the reference program, agreement with PyTorch, History, validation, reproducibility, errors."""
import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Dropout
from fastnn.models import Sequential


def reference_mlp(optimizer="adam", metrics=("accuracy",), seed=0):
    fastnn.set_seed(seed)
    model = Sequential()
    model.add(Dense(10, activation="relu", input_dim=8))
    model.add(Dense(8, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=list(metrics))
    return model


def data(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8)), rng.integers(2, size=(n, 1))


def test_reference_program_runs_and_prints_keras_progress(capsys):
    model = reference_mlp()
    x_train, y_train = data(1000)
    history = model.fit(x_train, y_train, epochs=3, batch_size=32)
    x_test, y_test = data(100, seed=2)
    loss, accuracy = model.evaluate(x_test, y_test)
    assert isinstance(loss, float) and isinstance(accuracy, float)
    assert 0.5 < loss < 1.0 and 0.0 <= accuracy <= 1.0
    assert list(history.history) == ["accuracy", "loss"] and len(history.history["loss"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/3"
    bar = re.compile(r"^32/32 ━{20} \d+s \d+(us|ms)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$")
    assert bar.match(out[1]), out[1]
    assert re.match(r"^4/4 ━{20} \d+s \d+(us|ms)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$", out[-1]), out[-1]
    np.testing.assert_allclose(model.evaluate(x_test, y_test, verbose=0, return_dict=True)["loss"], loss)


def test_verbose_two_and_zero(capsys):
    model = reference_mlp()
    x, y = data(100)
    model.fit(x, y, epochs=2, verbose=2, validation_split=0.2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[2] == "Epoch 2/2"
    assert re.match(r"^3/3 - \d+s - \d+(us|ms)/step - accuracy: .* - loss: .* - val_accuracy: .* - val_loss: \S+$",
                    out[3]), out[3]
    model.fit(x, y, epochs=2, verbose=0)
    model.predict(x[:32])  # one batch: 'auto' shows no bar
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    model.predict(x, batch_size=32)
    assert re.match(r"^4/4 ━{20} \d+s \d+(us|ms)/step$", capsys.readouterr().out)


# (fastnn optimizer, torch optimizer) pairs whose update rules coincide: a tiny epsilon makes Keras's
# and torch's different epsilon placements agree (RMSprop's must be far below g^2, as Keras adds it
# inside the square root), and Keras's Adagrad starts its accumulator at 0.1.
TINY = 1e-12
OPTIMIZER_PAIRS = {
    "adam": (lambda o: o.Adam(learning_rate=0.01, epsilon=TINY),
             lambda t, p: t.optim.Adam(p, lr=0.01, eps=TINY)),
    "adamw": (lambda o: o.AdamW(learning_rate=0.01, weight_decay=0.05, epsilon=TINY),
              lambda t, p: t.optim.AdamW(p, lr=0.01, weight_decay=0.05, eps=TINY)),
    "amsgrad": (lambda o: o.Adam(learning_rate=0.01, epsilon=TINY, amsgrad=True),
                lambda t, p: t.optim.Adam(p, lr=0.01, eps=TINY, amsgrad=True)),
    "sgd_momentum": (lambda o: o.SGD(learning_rate=0.1, momentum=0.9),
                     lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9)),
    "sgd_nesterov": (lambda o: o.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
                     lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "rmsprop": (lambda o: o.RMSprop(learning_rate=0.01, rho=0.9, epsilon=1e-30),
                lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-30)),
    "adagrad": (lambda o: o.Adagrad(learning_rate=0.1, epsilon=TINY),
                lambda t, p: t.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=TINY)),
}


@pytest.mark.parametrize("which", sorted(OPTIMIZER_PAIRS))
def test_training_steps_match_pytorch(which):
    torch = pytest.importorskip("torch")
    make_ours, make_theirs = OPTIMIZER_PAIRS[which]
    model = reference_mlp(make_ours(fastnn.optimizers), metrics=())
    x, y = data(32 * 6)
    initial = model.get_weights()
    tensors = [torch.tensor(w.T.copy() if w.ndim == 2 else w, dtype=torch.float64, requires_grad=True)
               for w in initial]
    optimizer = make_theirs(torch, tensors)
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    losses = []
    for start in range(0, len(x), 32):
        h = xt[start:start + 32]
        for i in range(0, 6, 2):
            h = torch.nn.functional.linear(h, tensors[i], tensors[i + 1])
            if i < 4:
                h = torch.relu(h)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(h, yt[start:start + 32])
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    history = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(model.get_weights(), tensors):
        theirs = theirs.detach().numpy()
        np.testing.assert_allclose(ours, theirs.T if theirs.ndim == 2 else theirs, atol=1e-5, rtol=1e-5)
    assert history.history["loss"][0] == pytest.approx(np.mean(losses), rel=1e-5)
    assert model.optimizer.iterations == 6


def test_non_fused_loss_path_matches_numpy():
    fastnn.set_seed(3)
    model = Sequential([Dense(3, activation="tanh", input_dim=2), Dense(2, activation="sigmoid")])
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=0.5), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 2)), rng.random((5, 2))
    w1, b1, w2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    h = np.tanh(x @ w1 + b1)
    out = 1 / (1 + np.exp(-(h @ w2 + b2)))
    dz2 = 2 * (out - y) / out.size * out * (1 - out)
    dz1 = dz2 @ w2.T * (1 - h ** 2)
    expected = [w1 - 0.5 * x.T @ dz1, b1 - 0.5 * dz1.sum(0), w2 - 0.5 * h.T @ dz2, b2 - 0.5 * dz2.sum(0)]
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(np.mean((out - y) ** 2), rel=1e-5)
    for ours, theirs in zip(model.get_weights(), expected):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_history_keys_and_validation_split_uses_the_last_samples():
    model = reference_mlp()
    x, y = data(200)
    seen = {}
    cb = fastnn.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.update(cb.params))
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, callbacks=[cb], verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.history.values()) and history.epoch == [0, 1]
    assert seen["steps"] == 5  # 150 training samples
    val_loss, val_acc = model.evaluate(x[150:], y[150:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc)
    other = model.evaluate(x[:50], y[:50], verbose=0)[0]
    assert other != pytest.approx(val_loss, rel=1e-6)

    history = model.fit(x, y, epochs=1, validation_data=(x[:40], y[:40]), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[:40], y[:40], verbose=0)[0], rel=1e-6)


def test_class_weight_equals_sample_weight():
    x, y = data(96)
    first = reference_mlp(seed=4)
    first.fit(x, y, epochs=2, class_weight={0: 0.5, 1: 2.0}, verbose=0, shuffle=False)
    second = reference_mlp(seed=4)
    second.fit(x, y, epochs=2, sample_weight=np.where(y[:, 0] == 1, 2.0, 0.5), verbose=0, shuffle=False)
    third = reference_mlp(seed=4)
    third.fit(x, y, epochs=2, verbose=0, shuffle=False)
    for a, b, c in zip(first.get_weights(), second.get_weights(), third.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, c) for a, c in zip(first.get_weights(), third.get_weights()))


def seeded_run(seed, threads):
    with fastnn.threads(threads):
        fastnn.set_seed(seed)
        model = Sequential([Dense(64, activation="relu", input_dim=8), Dropout(0.3), Dense(64, activation="tanh"),
                            Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        x, y = data(512)
        history = model.fit(x, y, epochs=2, batch_size=64, validation_split=0.1, verbose=0)
        return model.get_weights(), history.history


def test_reproducible_with_seed_and_across_thread_counts():
    weights, history = seeded_run(7, 1)
    again, history_again = seeded_run(7, 1)
    two_threads, history_two = seeded_run(7, 2)
    other, _ = seeded_run(8, 1)
    for a, b, c in zip(weights, again, two_threads):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert history == history_again == history_two
    assert not np.array_equal(weights[0], other[0])


def test_predict_paths_agree():
    model = reference_mlp()
    x, _ = data(70)
    full = model.predict(x, verbose=0)
    assert full.shape == (70, 1) and full.dtype == np.float32
    np.testing.assert_allclose(model.predict(x, batch_size=8, verbose=0), full, rtol=1e-6, atol=1e-7)
    one = model.predict(x[:1])
    np.testing.assert_allclose(one, full[:1], rtol=1e-6)
    one[0, 0] = 42.0  # the result is the caller's, not a reused buffer
    assert model.predict(x[:1])[0, 0] != 42.0
    np.testing.assert_allclose(model.predict_on_batch(x), full, rtol=1e-6)
    np.testing.assert_allclose(model(x), full, rtol=1e-6)
    assert ((full > 0) & (full < 1)).all()


def test_train_and_test_on_batch():
    model = reference_mlp()
    x, y = data(32)
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1 and model.optimizer.iterations == 1
    model.reset_metrics()
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert logs["loss"] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-6)


def test_evaluate_without_metrics_returns_a_float():
    model = reference_mlp(metrics=())
    x, y = data(40)
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_regularization_penalty_joins_the_loss():
    fastnn.set_seed(0)
    model = Sequential([Dense(4, input_dim=3, kernel_regularizer=fastnn.regularizers.L2(0.5))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 3)), np.zeros((4, 4))
    kernel, bias = model.get_weights()
    expected = np.mean((x @ kernel + bias) ** 2) + 0.5 * np.sum(kernel.astype(np.float64) ** 2)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("call, error, message", [
    (lambda m, x, y: m.fit(x[:, :5], y, verbose=0), ValueError,
     r"Dense 'dense\w*' expected input with last dimension 8, got shape \(64, 5\)"),
    (lambda m, x, y: m.fit(x, y[:60], verbose=0), ValueError, "same number of samples.*64.*60"),
    (lambda m, x, y: m.fit(np.where(x > 0.5, np.nan, x), y, verbose=0), ValueError, "x contains NaN"),
    (lambda m, x, y: m.fit(x, np.full(y.shape, np.inf), verbose=0), ValueError, "y contains NaN or infinity"),
    (lambda m, x, y: m.fit(x.astype(str), y, verbose=0), TypeError, "real numbers"),
    (lambda m, x, y: m.predict([["a"] * 8]), TypeError, "real numbers"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0), ValueError, "validation_split"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), ValueError, "batch_size"),
    (lambda m, x, y: m.evaluate(x, y, verbose=7), ValueError, "verbose"),
    (lambda m, x, y: m.predict(x[:, :, None]), ValueError, r"expected input of shape \(None, 8\)"),
])
def test_errors(call, error, message):
    model = reference_mlp()
    x, y = data(64)
    with pytest.raises(error, match=message):
        call(model, x, y)


def test_fit_and_evaluate_need_compile():
    model = Sequential([Dense(1, input_dim=2)])
    x, y = np.ones((4, 2)), np.ones((4, 1))
    for call in (model.fit, model.evaluate, model.train_on_batch):
        with pytest.raises(RuntimeError, match="compile"):
            call(x, y)
    assert model.predict(x).shape == (4, 1)  # predicting needs no compile


def test_deferred_build_from_data():
    fastnn.set_seed(0)
    model = Sequential([Dense(5, activation="relu"), Dense(1)])
    assert not model.built
    model.compile(optimizer="adam", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(np.ones((10, 3)), np.ones(10), verbose=0, epochs=2)
    assert model.built and model.count_params() == 3 * 5 + 5 + 5 + 1


def test_class_weight_leaves_validation_split_rows_unweighted():
    x, y = data(100)
    model = reference_mlp(optimizer=fastnn.optimizers.SGD(learning_rate=0.0))
    expected = model.evaluate(x[80:], y[80:], verbose=0, return_dict=True)
    history = model.fit(x, y, epochs=1, class_weight={0: 5.0, 1: 0.1}, validation_split=0.2, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(expected["accuracy"], rel=1e-6)


def test_fit_that_cannot_train_leaves_the_model_unchanged():
    from fastnn.layers import BatchNormalization, Input
    from fastnn.optimize import quantize_dynamic

    fastnn.set_seed(0)
    model = Sequential([Input((16,)), Dense(8, activation="relu"), BatchNormalization(), Dense(3, activation="softmax")])
    quantized = quantize_dynamic(model)
    quantized.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x, y = np.random.default_rng(0).random((20, 16)).astype(np.float32), np.arange(20) % 3
    before, weights = quantized.predict(x, verbose=0), quantized.get_weights()
    for train in (lambda: quantized.fit(x, y, verbose=0), lambda: quantized.train_on_batch(x, y)):
        with pytest.raises(ValueError, match="inference only"):
            train()
        np.testing.assert_array_equal(quantized.predict(x, verbose=0), before)
        for a, b in zip(quantized.get_weights(), weights):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("block_bytes", [1, 200, 1 << 20])
@pytest.mark.parametrize("steps", [None, 3])
def test_shuffled_batches_are_the_rows_of_the_epoch_permutation(monkeypatch, block_bytes, steps):
    """fit gathers the shuffled rows of several batches at once (trainer.GATHER_BLOCK_BYTES); each
    batch is still exactly the epoch permutation's next rows: blocks of 1 batch, of 2 batches with a
    short last block, and of the whole epoch, with and without steps_per_epoch."""
    from fastnn.engine import trainer
    monkeypatch.setattr(trainer, "GATHER_BLOCK_BYTES", block_bytes)
    rows, batch = 23, 5  # one row is 20 bytes: a batch 100
    x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    y = np.arange(rows, dtype=np.float32).reshape(rows, 1)
    sw = np.linspace(0.5, 2.0, rows).astype(np.float32)
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse")
    source = trainer._BatchSource(model, [x], [y], sw, batch, True, steps, "fit")
    for seed in (7, 8):  # two epochs: the buffers are reused
        fastnn.set_seed(seed)
        order = np.random.default_rng(seed).permutation(rows)
        count = 0
        for step, (inputs, targets, weights) in enumerate(source.epoch()):  # a batch lives until the next one
            count += 1
            picked = order[step * batch:(step + 1) * batch]
            np.testing.assert_array_equal(inputs[0], x[picked])
            np.testing.assert_array_equal(targets[0], y[picked])
            np.testing.assert_array_equal(weights, sw[picked])
            assert inputs[0].flags.c_contiguous and targets[0].flags.c_contiguous
        assert count == (steps or 5)
