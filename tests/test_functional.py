"""Functional models: two inputs and two outputs, merges, a shared layer and a tensor read twice, checked
against a float64 NumPy reference (forward) and finite differences (one SGD step = minus the gradient);
nesting, config, files and summary."""
import json

import numpy as np
import pytest

import fastnn
from fastnn.layers import Add, Average, Concatenate, Dense, Input, Maximum, Minimum, Multiply, Subtract
from fastnn.models import Model, Sequential, clone_model, model_from_json


def graph_model():
    """a, c: (5,), b: (3,). d is shared (a and c); d(a) feeds both Multiply and Concatenate."""
    fastnn.set_seed(3)
    a, c, b = Input((5,), name="a"), Input((5,), name="c"), Input((3,), name="b")
    d = Dense(4, activation="tanh", name="d")
    da, dc = d(a), d(c)
    e = Dense(4, activation="relu", name="e")(b)
    s = Add(name="s")([Multiply(name="m")([da, e]), dc])
    cat = Concatenate(name="cat")([s, da])
    out1 = Dense(1, activation="sigmoid", name="out1")(cat)
    out2 = Dense(3, name="out2")(s)
    return Model([a, c, b], [out1, out2])


def reference(weights, xa, xc, xb):
    """Float64 forward of graph_model with its weights."""
    dk, db, ek, eb, o1k, o1b, o2k, o2b = [np.asarray(w, np.float64) for w in weights]
    da, dc = np.tanh(xa @ dk + db), np.tanh(xc @ dk + db)
    e = np.maximum(xb @ ek + eb, 0)
    s = da * e + dc
    cat = np.concatenate([s, da], axis=1)
    out1 = 1 / (1 + np.exp(-(cat @ o1k + o1b)))
    return out1, s @ o2k + o2b


def reference_loss(weights, x, y1, y2):
    out1, out2 = reference(weights, *x)
    p = np.clip(out1, 1e-7, 1 - 1e-7)
    bce = -np.mean(y1 * np.log(p) + (1 - y1) * np.log(1 - p))
    return bce + 0.5 * np.mean((out2 - y2) ** 2)


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((n, 5)), rng.standard_normal((n, 5)), rng.standard_normal((n, 3))]
    return x, rng.integers(0, 2, (n, 1)).astype(np.float64), rng.standard_normal((n, 3))


def test_forward_matches_float64_reference():
    model = graph_model()
    x, _, _ = data()
    out1, out2 = model.predict(x, verbose=0)
    ref1, ref2 = reference(model.get_weights(), *x)
    np.testing.assert_allclose(out1, ref1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out2, ref2, rtol=1e-5, atol=1e-5)
    by_name = model.predict({"a": x[0], "c": x[1], "b": x[2]}, verbose=0)
    np.testing.assert_array_equal(by_name[0], out1)


def test_one_sgd_step_is_minus_the_finite_difference_gradient():
    model = graph_model()
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=1.0), loss=["binary_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5])
    x, y1, y2 = data()
    before = [w.astype(np.float64) for w in model.get_weights()]
    loss = model.train_on_batch(x, [y1, y2])[0]
    np.testing.assert_allclose(loss, reference_loss(before, x, y1, y2), rtol=1e-5)
    step = [b - a for b, a in zip(before, model.get_weights())]
    eps = 1e-6
    for k, w in enumerate(before):
        for index in list(np.ndindex(w.shape))[:6]:
            plus = [v.copy() for v in before]
            minus = [v.copy() for v in before]
            plus[k][index] += eps
            minus[k][index] -= eps
            numerical = (reference_loss(plus, x, y1, y2) - reference_loss(minus, x, y1, y2)) / (2 * eps)
            np.testing.assert_allclose(step[k][index], numerical, rtol=2e-3, atol=2e-5,
                                       err_msg=f"weight {k} at {index}")


@pytest.mark.parametrize("merge, fn", [(Add, lambda a, b: a + b), (Subtract, lambda a, b: a - b),
                                       (Multiply, lambda a, b: a * b), (Average, lambda a, b: (a + b) / 2),
                                       (Maximum, np.maximum), (Minimum, np.minimum)])
def test_merge_layers_forward_and_backward(merge, fn):
    from layer_helpers import check_layer

    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(2)]
    y = check_layer(merge(), [(4, 6), (4, 6)], (4, 6), 0, x=xs)
    np.testing.assert_allclose(y, fn(xs[0].astype(np.float64), xs[1]), rtol=1e-6, atol=1e-6)


def test_concatenate_on_inner_axis_and_errors():
    from layer_helpers import check_layer

    check_layer(Concatenate(axis=1), [(2, 3, 4), (2, 5, 4)], (2, 8, 4), 0)
    with pytest.raises(ValueError, match="agree except along axis"):
        Concatenate()([Input((3, 4)), Input((5, 4))])
    with pytest.raises(ValueError, match="one shape"):
        Add()([Input((3,)), Input((4,))])
    with pytest.raises(ValueError, match="exactly 2"):
        Subtract()([Input((3,)), Input((3,)), Input((3,))])


@pytest.mark.parametrize("helper, merge", [("add", Add), ("subtract", Subtract), ("multiply", Multiply),
                                           ("average", Average), ("maximum", Maximum), ("minimum", Minimum)])
def test_functional_merge_helpers_are_their_layers(helper, merge):
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2)]
    np.testing.assert_array_equal(getattr(fastnn.layers, helper)(xs), merge()(xs))
    out = getattr(fastnn.layers, helper)([Input((5,)), Input((5,))], name="merged")
    assert isinstance(out.layer, merge) and out.layer.name == "merged" and tuple(out.shape) == (None, 5)


def test_concatenate_helper_builds_a_two_input_model():
    title, body = Input((10,), name="title"), Input((20,), name="body")
    h = fastnn.layers.concatenate([Dense(8)(title), Dense(8)(body)], name="joined")
    assert tuple(h.shape) == (None, 16)
    model = Model([title, body], Dense(1)(h))
    assert model.get_layer("joined").axis == -1
    assert model.predict([np.ones((2, 10)), np.ones((2, 20))], verbose=0).shape == (2, 1)
    assert tuple(fastnn.layers.concatenate([Input((3, 4)), Input((5, 4))], axis=1).shape) == (None, 8, 4)


def test_disconnected_graph_and_bad_arguments_are_refused():
    a, b = Input((3,)), Input((3,))
    out = Add()([a, b])
    with pytest.raises(ValueError, match="graph disconnected"):
        Model(a, out)
    with pytest.raises(TypeError, match="KerasTensor"):
        Model(a, np.zeros(3))
    with pytest.raises(TypeError, match="needs both"):
        Model()
    with pytest.raises(TypeError, match="mix symbolic"):
        Add()([a, np.zeros((1, 3))])


def test_nested_models_share_weights_and_train():
    fastnn.set_seed(0)
    inner = Sequential([Input((4,)), Dense(6, activation="relu"), Dense(3)], name="inner")
    x = Input((4,))
    y = Dense(1, activation="sigmoid")(inner(x))
    outer = Model(x, y)
    assert [type(l).__name__ for l in outer.layers] == ["InputLayer", "Sequential", "Dense"]
    assert outer.count_params() == inner.count_params() + 4
    data_x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    np.testing.assert_allclose(outer.predict(data_x, verbose=0),
                               1 / (1 + np.exp(-(inner.predict(data_x, verbose=0) @ outer.layers[2].kernel
                                                 + outer.layers[2].bias))), rtol=1e-5)
    outer.compile("adam", "binary_crossentropy")
    before = inner.get_weights()
    outer.fit(data_x, (data_x[:, :1] > 0), epochs=2, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, inner.get_weights()))


def test_config_json_clone_and_file_round_trip(tmp_path):
    model = graph_model()
    model.compile("adam", loss={"out1": "binary_crossentropy", "out2": "mse"},
                  metrics={"out1": ["accuracy"], "out2": ["mae"]})
    x, y1, y2 = data()
    model.fit(x, [y1, y2], epochs=2, verbose=0)
    config = model.get_config()
    json.dumps(config)
    rebuilt = Model.from_config(config)
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0)[1], model.predict(x, verbose=0)[1])
    clone = clone_model(model)
    assert clone is not model and clone.layers[3] is not model.layers[3]
    path = tmp_path / "graph.fnn"
    model.save(path)
    loaded = fastnn.load_model(path)
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    # training resumed from the file continues exactly as the original
    loaded.fit(x, [y1, y2], epochs=1, shuffle=False, verbose=0)
    model.fit(x, [y1, y2], epochs=1, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluate_order_and_log_names_follow_keras():
    model = graph_model()
    model.compile("adam", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics=[["accuracy"], ["mae"]])
    x, y1, y2 = data()
    history = model.fit(x, [y1, y2], epochs=1, verbose=0)
    assert sorted(history.history) == ["loss", "out1_accuracy", "out1_loss", "out2_loss", "out2_mae"]
    results = model.evaluate(x, [y1, y2], verbose=0)
    logs = model.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    assert results == [logs[k] for k in ("loss", "out1_loss", "out2_loss", "out1_accuracy", "out2_mae")]
    np.testing.assert_allclose(logs["loss"], logs["out1_loss"] + 0.5 * logs["out2_loss"], rtol=1e-6)
    assert model.metrics_names == ["loss", "out1_loss", "out2_loss", "out1_accuracy", "out2_mae"]
    with pytest.raises(ValueError, match="list of lists"):
        model.compile("adam", loss=["binary_crossentropy", "mse"], metrics=["accuracy", "mae"])


def test_evaluate_lists_several_outputs_metrics_sorted_by_name_as_keras():
    """Keras 3.15 measured: [loss, price_loss, label_loss, label_accuracy, price_mae] (metrics by name)."""
    x = fastnn.Input((4,))
    h = Dense(8, activation="relu")(x)
    model = fastnn.Model(x, [Dense(1, name="price")(h), Dense(1, activation="sigmoid", name="label")(h)])
    model.compile("adam", {"price": "mse", "label": "binary_crossentropy"},
                  metrics={"price": ["mae"], "label": ["accuracy"]})
    inputs = np.random.default_rng(0).random((16, 4)).astype(np.float32)
    targets = [inputs[:, 1], (inputs[:, 0] > 0.5).astype(np.float32)]
    order = ["loss", "price_loss", "label_loss", "label_accuracy", "price_mae"]
    assert model.metrics_names == order
    logs = model.evaluate(inputs, targets, verbose=0, return_dict=True)
    assert model.evaluate(inputs, targets, verbose=0) == [logs[name] for name in order]


def test_summary_shows_connections():
    lines = []
    graph_model().summary(print_fn=lines.append, line_length=120)
    text = "\n".join(lines)
    assert "Connected to" in text and "d[0][0]" in text and "a[0][0]" in text
    assert "Trainable params: 64" in text


def test_get_layer():
    model = graph_model()
    assert model.get_layer("cat").name == "cat" and model.get_layer(index=0).name == "a"
    with pytest.raises(ValueError, match="No such layer"):
        model.get_layer("nope")


def test_input_and_output_build_a_feature_extractor():
    model = graph_model()
    assert model.input == model.inputs and model.output == model.outputs
    d, cat = model.get_layer("d"), model.get_layer("cat")
    assert d.input is model.inputs[0] and d.output is model.get_layer("m").input[0]  # the shared layer's first call
    assert cat.input == [model.get_layer("s").output, d.output]
    features = Model(model.input, cat.output)
    x = [np.full((2, 5), 0.5), np.ones((2, 5)), np.ones((2, 3))]
    full = Model(model.input, [cat.output, model.output[0]]).predict(x, verbose=0)
    np.testing.assert_array_equal(features.predict(x, verbose=0), full[0])
    a = Input((3,), name="a")
    single = Model({"a": a}, Dense(2, name="h")(a))
    assert single.input == {"a": a} and single.output is single.get_layer("h").output


def test_sequential_input_and_output_and_never_called_layers():
    seq = Sequential([Input((4,)), Dense(3, name="h"), Dense(2)])
    assert seq.input is seq.inputs[0] and seq.output is seq.layers[-1].output
    features = Model(seq.input, seq.get_layer("h").output)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(features.predict(x, verbose=0), seq.get_layer("h")(x))
    with pytest.raises(AttributeError, match="never been called.*output"):
        Dense(3).output
    with pytest.raises(AttributeError, match="never been called.*input"):
        Dense(3).input
    with pytest.raises(AttributeError, match="no defined input"):
        Sequential([Dense(2)]).input


def test_masks_flow_to_the_loss_as_keras_reduces_them():
    """Masking marks padded steps; Dense passes the mask on; the loss averages the steps that count."""
    from fastnn.layers import Masking

    fastnn.set_seed(6)
    x = np.random.default_rng(7).standard_normal((3, 5, 2)).astype(np.float32)
    x[0, 3:] = 0.0
    x[2, 1:] = 0.0
    y = np.random.default_rng(8).standard_normal((3, 5, 1)).astype(np.float32)
    model = Sequential([Input((5, 2)), Masking(0.0), Dense(1)])
    model.compile(fastnn.optimizers.SGD(1.0), "mse")
    pred = model.predict(x, verbose=0).astype(np.float64)
    mask = np.any(x != 0, axis=-1)
    expected = ((pred - y)[..., 0] ** 2 * mask).sum() / mask.sum()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-6)
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    model.train_on_batch(x, y)
    residual = (pred - y)[..., 0] * mask * 2 / mask.sum()
    np.testing.assert_allclose(bias - model.get_weights()[1], [residual.sum()], rtol=1e-5)
    np.testing.assert_allclose(kernel - model.get_weights()[0],
                               np.einsum("bt,btf->f", residual, x)[:, None], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_residual_training_steps_match_torch(optimizer):
    torch = pytest.importorskip("torch")
    fastnn.set_seed(9)
    inputs = Input((6,))
    a, b = Dense(16, activation="relu")(inputs), Dense(16, activation="tanh")(inputs)
    model = Model(inputs, Dense(3, activation="softmax")(Add()([a, b])))
    make = {"adam": (lambda: fastnn.optimizers.Adam(0.01, epsilon=1e-12), lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-12)),
            "sgd": (lambda: fastnn.optimizers.SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))}
    model.compile(optimizer=make[optimizer][0](), loss="sparse_categorical_crossentropy")
    params = [torch.tensor(w.astype(np.float64), requires_grad=True) for w in model.get_weights()]
    torch_opt = make[optimizer][1](params)
    rng = np.random.default_rng(10)
    x, labels = rng.standard_normal((64, 6)), rng.integers(0, 3, 64)
    for start in range(0, 64, 16):
        xb, lb = torch.tensor(x[start:start + 16]), torch.tensor(labels[start:start + 16])
        ka, ba, kb, bb, kh, bh = params
        logits = (torch.relu(xb @ ka + ba) + torch.tanh(xb @ kb + bb)) @ kh + bh
        loss = torch.nn.functional.cross_entropy(logits, lb)
        torch_opt.zero_grad()
        loss.backward()
        torch_opt.step()
    model.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(model.get_weights(), params):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_concatenated_branches_feed_a_dense_layer_in_training():
    """Concatenate's backward hands each branch its part of dy as a contiguous array."""
    fastnn.set_seed(11)
    a, b = Input((3,)), Input((2,))
    joined = Concatenate()([Dense(4, name="left")(a), Dense(5, name="right")(b)])
    model = Model([a, b], Dense(1)(joined))
    model.compile(fastnn.optimizers.SGD(0.1), "mse")
    rng = np.random.default_rng(12)
    history = model.fit([rng.standard_normal((32, 3)), rng.standard_normal((32, 2))], rng.standard_normal((32, 1)),
                        epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
