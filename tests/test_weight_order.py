"""A functional model lists its layers, and so its weights, in Keras 3's order (deepest first), so
get_weights/set_weights move weights between Keras and fastnn even when shapes coincide. The expected
orders below were printed by Keras 3.15 (model.layers) for the same graphs."""
import json
import zipfile

import numpy as np
import pytest
from safetensors.numpy import load, save

import fastnn
from fastnn import layers as L


def tabular():
    norm = L.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).normal(size=(8, 5)).astype("float32"))
    num, cat = fastnn.Input((5,), name="num"), fastnn.Input((3,), dtype="int32", name="cat")
    h = L.concatenate([norm(num), L.Flatten(name="flat")(L.Embedding(20, 4, name="emb")(cat))], name="cc")
    return fastnn.Model([num, cat], L.Dense(1, name="out")(L.Dense(8, activation="relu", name="hid")(h)))


def branches():
    a, b = fastnn.Input((8,), name="ia"), fastnn.Input((8,), name="ib")
    ha = L.Dense(8, name="a1")(a)
    hb = L.Dense(8, name="b2")(L.Dense(8, name="b1")(b))
    return fastnn.Model([a, b], L.Dense(1, name="out")(L.concatenate([ha, hb], name="cc")))


def shared_two_outputs_unused_input():
    x, unused = fastnn.Input((4,), name="x"), fastnn.Input((4,), name="unused")
    shared = L.Dense(4, name="shared")
    h1 = shared(x)
    h2 = shared(L.Dense(4, name="pre")(h1))
    o1 = L.Dense(2, name="o1")(h2)
    o2 = L.Dense(3, name="o2")(L.Dense(3, name="mid")(h1))
    return fastnn.Model([x, unused], [o1, o2])


def nested_with_skip():
    inner_in = fastnn.Input((4,), name="ii")
    inner = fastnn.Model(inner_in, L.Dense(4, name="in_d2")(L.Dense(4, name="in_d1")(inner_in)), name="inner")
    x = fastnn.Input((4,), name="x")
    added = L.add([inner(x), L.Dense(4, name="skip")(x)], name="add")
    return fastnn.Model(x, L.Dense(1, name="out")(added))


KERAS_ORDER = {
    tabular: ["cat", "num", "emb", "norm", "flat", "cc", "hid", "out"],
    branches: ["ib", "ia", "b1", "a1", "b2", "cc", "out"],
    shared_two_outputs_unused_input: ["x", "shared", "pre", "mid", "unused", "o1", "o2"],
    nested_with_skip: ["x", "inner", "skip", "add", "out"],
}


@pytest.mark.parametrize("make", list(KERAS_ORDER), ids=lambda f: f.__name__)
def test_layers_and_weights_in_keras_order(make):
    model = make()
    assert [layer.name for layer in model.layers] == KERAS_ORDER[make]
    expected = [w for layer in model.layers for w in layer.weights]
    assert [id(w) for w in model.weights] == [id(w) for w in expected]


def test_set_weights_of_same_shaped_branches_goes_to_keras_layers():
    model = branches()
    kernels = [np.full((8, 8), k, np.float32) for k in (1, 2, 3)]  # Keras lists b1, a1, b2
    model.set_weights([kernels[0], np.zeros(8), kernels[1], np.zeros(8), kernels[2], np.zeros(8),
                       np.zeros((16, 1)), np.zeros(1)])
    assert model.get_layer("b1").get_weights()[0][0, 0] == 1
    assert model.get_layer("a1").get_weights()[0][0, 0] == 2
    assert model.get_layer("b2").get_weights()[0][0, 0] == 3


def test_file_written_in_the_old_first_call_order_loads_by_layer(tmp_path):
    """Files from before this order list layers (and weights) by first call: a1 before b1."""
    model = branches()
    model.compile("adam", "mse")
    model.fit([np.ones((4, 8)), np.ones((4, 8))], np.ones((4, 1)), epochs=1, verbose=0)
    path = tmp_path / "m.fnn"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("model.json"))
        tensors = load(zf.read("weights.safetensors"))
    names = [entry["name"] for entry in meta["model"]["config"]["layers"]]
    old_names = ["ia", "a1", "ib", "b1", "b2", "cc", "out"]
    by_name = {entry["name"]: entry for entry in meta["model"]["config"]["layers"]}
    meta["model"]["config"]["layers"] = [by_name[name] for name in old_names]
    assert names != old_names
    old_weights = [model.get_layer(name).get_weights() for name in old_names]
    tensors.update((f"weights/{i}", w) for i, w in enumerate(w for ws in old_weights for w in ws))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
        zf.writestr("weights.safetensors", save(tensors, metadata={"format": "fastnn.model", "format_version": "1"}))
    with pytest.warns(UserWarning, match="optimizer state is not"):
        loaded = fastnn.load_model(path)
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
