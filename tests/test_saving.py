"""The .fnn model file and weights files: round trips, exact resumption, atomic writes, hostile files."""
import io
import json
import os
import stat
import struct
import time
import zipfile

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import fastnn
from fastnn import _strictread, saving
from fastnn.layers import Dense, Dropout, Input
from fastnn.saving import ModelFileError


def make_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4), dtype=np.float32)
    y = rng.integers(0, 3, size=n)
    return x, y


def make_model(optimizer="adam", compiled=True, seed=7):
    fastnn.set_seed(seed)
    model = fastnn.Sequential([Dense(6, activation="relu", input_dim=4), Dense(3, activation="softmax")])
    if compiled:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def trained(tmp_path):
    """A model trained for one epoch, saved to tmp_path/model.fnn."""
    x, y = make_data()
    model = make_model()
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / "model.fnn"
    saving.save_model(model, path)
    return model, path


def optimizer_state(model):
    return model.optimizer.iterations, model.optimizer.state_arrays()


def assert_same_state(a, b):
    it_a, st_a = optimizer_state(a)
    it_b, st_b = optimizer_state(b)
    assert it_a == it_b
    assert sorted(st_a) == sorted(st_b)
    for name in st_a:
        np.testing.assert_array_equal(st_a[name], st_b[name])


# ---------------------------------------------------------------------------------------- round trips

def test_round_trip_restores_everything(trained):
    model, path = trained
    restored = fastnn.load_model(path)
    x, _ = make_data(seed=1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), restored.predict(x, verbose=0))
    assert restored.get_config() == model.get_config()
    assert restored.compile_config() == model.compile_config()
    for a, b in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 4
    assert_same_state(model, restored)


def test_file_layout(trained):
    model, path = trained
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["model.json", "weights.safetensors"]
        meta = json.loads(zf.read("model.json"))
        tensors = st_load(zf.read("weights.safetensors"))
    assert meta["format"] == "fastnn.model" and meta["format_version"] == 1
    assert meta["fastnn_version"] == fastnn.__version__
    assert meta["optimizer_iterations"] == 4
    names = [t["name"] for t in meta["tensors"]]
    assert names[:4] == ["weights/0", "weights/1", "weights/2", "weights/3"]
    assert all(n.startswith("optimizer/") for n in names[4:]) and len(names) > 4
    assert sorted(tensors) == sorted(names)
    for entry in meta["tensors"]:
        assert entry["dtype"] == "float32" and list(tensors[entry["name"]].shape) == entry["shape"]


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "rmsprop"])
def test_resumed_training_is_bitwise_identical(tmp_path, optimizer):
    x, y = make_data(n=80)
    opt = (lambda: fastnn.optimizers.SGD(0.05, momentum=0.9)) if optimizer == "sgd_momentum" else (lambda: optimizer)
    straight = make_model(opt())
    straight.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)

    first = make_model(opt())
    first.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    saving.save_model(first, tmp_path / "half.fnn")
    resumed = fastnn.load_model(tmp_path / "half.fnn")
    resumed.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)

    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_same_state(straight, resumed)


def test_resumed_shuffled_training_is_bitwise_identical(tmp_path):
    """Loading does not consume fastnn's random stream, so even shuffled, dropout training resumes exactly."""
    x, y = make_data(n=80)

    def model_with_dropout():
        fastnn.set_seed(11)
        model = fastnn.Sequential([Dense(6, activation="relu", input_dim=4), fastnn.layers.Dropout(0.3),
                                   Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    straight = model_with_dropout()
    straight.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first = model_with_dropout()
    first.fit(x, y, epochs=1, batch_size=16, verbose=0)
    saving.save_model(first, tmp_path / "half.fnn")
    resumed = fastnn.load_model(tmp_path / "half.fnn")
    resumed.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_compiled_but_untrained_model_resumes_exactly(tmp_path):
    x, y = make_data()
    model = make_model()
    saving.save_model(model, tmp_path / "fresh.fnn")
    restored = fastnn.load_model(tmp_path / "fresh.fnn")
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    restored.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_uncompiled_model_round_trip(tmp_path):
    model = make_model(compiled=False)
    saving.save_model(model, tmp_path / "plain.fnn")
    with zipfile.ZipFile(tmp_path / "plain.fnn") as zf:
        meta = json.loads(zf.read("model.json"))
    assert meta["compile_config"] is None and meta["optimizer_iterations"] is None
    restored = fastnn.load_model(tmp_path / "plain.fnn")
    assert not restored.compiled
    x, _ = make_data()
    np.testing.assert_array_equal(model.predict(x, verbose=0), restored.predict(x, verbose=0))


def test_load_model_with_compile_false_gives_the_weights_uncompiled(trained):
    model, path = trained
    restored = fastnn.load_model(path, compile=False, safe_mode=True)
    assert not restored.compiled
    x, y = make_data()
    np.testing.assert_array_equal(model.predict(x, verbose=0), restored.predict(x, verbose=0))
    restored.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")  # fresh: the file's state is left out
    restored.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="compile must be True or False"):
        fastnn.load_model(path, compile="no")


def test_model_methods_use_this_format(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.fnn")
    assert isinstance(fastnn.load_model(tmp_path / "m.fnn"), fastnn.Sequential)
    model.save_weights(tmp_path / "w.safetensors")
    other = make_model(seed=99)
    other.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_round_trip_and_checks(trained, tmp_path):
    model, model_path = trained
    path = tmp_path / "w.safetensors"
    saving.save_weights(model, path)
    plain = st_load(path.read_bytes())  # a plain safetensors file any tool can read
    assert sorted(plain) == ["weights/0", "weights/1", "weights/2", "weights/3"]
    for source in (path, model_path):
        other = make_model(seed=123)
        saving.load_weights(other, source)
        for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    wider = fastnn.Sequential([Dense(7, activation="relu", input_dim=4), Dense(3)])
    before = wider.get_weights()
    with pytest.raises(ModelFileError, match="shape"):
        saving.load_weights(wider, path)
    for a, b in zip(before, wider.get_weights(), strict=True):  # a failed load changes nothing
        np.testing.assert_array_equal(a, b)
    deeper = fastnn.Sequential([Dense(6, input_dim=4), Dense(3), Dense(3)])
    with pytest.raises(ModelFileError):
        saving.load_weights(deeper, path)
    with pytest.raises(ValueError, match="not built"):
        saving.load_weights(fastnn.Sequential([Dense(3)]), path)


@pytest.mark.parametrize("tensors", [
    {"weights/0": np.zeros((4, 6), np.float64), "weights/1": np.zeros(6, np.float32),
     "weights/2": np.zeros((6, 3), np.float32), "weights/3": np.zeros(3, np.float32)},
    {"weights/0": np.zeros((4, 6), np.float32), "weights/1": np.zeros(6, np.float32),
     "weights/2": np.zeros((6, 3), np.float32), "weights/5": np.zeros(3, np.float32)},
    {"kernel": np.zeros((4, 6), np.float32)},
])
def test_load_weights_rejects_bad_weights_files(tmp_path, tensors):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(st_save(tensors))
    with pytest.raises(ModelFileError):
        saving.load_weights(make_model(), path)


# ------------------------------------------------------------------------------------------ atomicity

def test_new_file_gets_normal_permissions(trained):
    _, path = trained
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("failure", ["fsync", "replace", "interrupt"])
def test_failed_save_leaves_old_file_and_no_temp(trained, monkeypatch, failure):
    model, path = trained
    old = path.read_bytes()
    model.fit(*make_data(), epochs=1, batch_size=16, verbose=0)  # now the new file would differ

    def fail(*args, **kwargs):
        raise KeyboardInterrupt if failure == "interrupt" else OSError("disk full")

    target = {"fsync": (os, "fsync"), "replace": (os, "replace"), "interrupt": (zipfile.ZipFile, "writestr")}
    monkeypatch.setattr(*target[failure], fail)
    with pytest.raises(KeyboardInterrupt if failure == "interrupt" else OSError):
        saving.save_model(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(path.parent) == ["model.fnn"]


def test_failed_save_weights_leaves_no_file(tmp_path, monkeypatch):
    model = make_model()

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        saving.save_weights(model, tmp_path / "w.safetensors")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------- hostile files

def read_members(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("model.json")), zf.read("weights.safetensors")


def write_zip(path, members):
    """members: list of (name, bytes) written in order, deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)


def write_file(path, meta, tensors):
    meta_bytes = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    tensor_bytes = tensors if isinstance(tensors, bytes) else st_save(tensors)
    write_zip(path, [("model.json", meta_bytes), ("weights.safetensors", tensor_bytes)])


def assert_rejected(path, match=None):
    with pytest.raises(ModelFileError, match=match):
        fastnn.load_model(path)


def test_modelfileerror_is_a_valueerror():
    assert issubclass(ModelFileError, ValueError)


@pytest.mark.parametrize("content", [b"", b"PK", os.urandom(4096), b"PK\x03\x04" + os.urandom(200)])
def test_random_or_empty_bytes(tmp_path, content):
    path = tmp_path / "junk.fnn"
    path.write_bytes(content)
    assert_rejected(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(trained, keep):
    _, path = trained
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    assert_rejected(path)


def test_flipped_bytes_are_caught_by_crc_or_checks(trained):
    _, path = trained
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights.safetensors")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    assert_rejected(path, "corrupt")


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("names", [
    ["model.json", "weights.safetensors", "extra.txt"],
    ["model.json"],
    ["weights.safetensors"],
    ["../model.json", "weights.safetensors"],
    ["/tmp/model.json", "weights.safetensors"],
    ["model.json", "model.json", "weights.safetensors"],
    ["model.json", "weights/../weights.safetensors"],
])
def test_wrong_member_names(trained, names):
    _, path = trained
    meta, tensors = read_members(path)
    contents = {"json": json.dumps(meta).encode(), "weights": tensors}
    members = [(n, contents["json"] if n.endswith("json") else contents["weights"] if "weights" in n else b"x")
               for n in names]
    write_zip(path, members)
    assert_rejected(path, "member")


def test_undecodable_local_member_name(trained):
    """Found by the fuzzer: a local header flagged UTF-8 whose name does not decode made zipfile raise
    UnicodeDecodeError on open, which escaped as a plain ValueError."""
    _, path = trained
    data = bytearray(path.read_bytes())
    assert data[:4] == b"PK\x03\x04" and data[30:40] == b"model.json"
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | 0x800)
    data[30:32] = b"\xed\xa0"
    path.write_bytes(bytes(data))
    assert_rejected(path, "corrupt")


def central_entry(path, data):
    """Offset of model.json's central directory entry (the first one) in the file's bytes."""
    with zipfile.ZipFile(path) as zf:
        start = zf.start_dir
    assert data[start:start + 4] == b"PK\x01\x02"
    return start


def test_huge_declared_size(trained):
    _, path = trained
    data = bytearray(path.read_bytes())
    central = central_entry(path, data)
    struct.pack_into("<I", data, central + 24, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    assert_rejected(path, "limit")


def test_compression_bomb(trained):
    _, path = trained
    meta, tensors = read_members(path)
    write_file(path, json.dumps(meta).encode() + b" " * (8 << 20), tensors)
    assert_rejected(path, "compression ratio")


def test_encrypted_member(trained):
    _, path = trained
    data = bytearray(path.read_bytes())
    central = central_entry(path, data)
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 1)
    path.write_bytes(bytes(data))
    assert_rejected(path, "encrypted")


def nested(depth):
    return json.loads("[" * depth + "]" * depth)


@pytest.mark.parametrize("meta", [
    b"not json at all", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'"a string"', b"42", b"null",
    b"[" * 200_000 + b"]" * 200_000,
    b'{"format": "fastnn.model", "format": "fastnn.model"}',
])
def test_malformed_json(trained, meta):
    _, path = trained
    _, tensors = read_members(path)
    write_file(path, meta, tensors)
    assert_rejected(path)


def mutate(path, change):
    """Rewrite path with change(meta, tensors) applied to its decoded members."""
    meta, tensor_bytes = read_members(path)
    tensors = dict(st_load(tensor_bytes))
    result = change(meta, tensors)
    write_file(path, meta, tensors if result is None else result)


def set_key(key, value):
    def change(meta, tensors):
        meta[key] = value
    return change


def set_layer(index, class_name=None, **config):
    def change(meta, tensors):
        layer = meta["model"]["config"]["layers"][index]
        if class_name is not None:
            layer["class_name"] = class_name
        layer["config"].update(config)
    return change


def set_manifest(index, **fields):
    def change(meta, tensors):
        meta["tensors"][index].update(fields)
    return change


def replace_tensor(name, value):
    def change(meta, tensors):
        tensors[name] = value
    return change


def add_tensor(name, value, in_manifest):
    def change(meta, tensors):
        tensors[name] = value
        if in_manifest:
            meta["tensors"].append({"name": name, "dtype": "float32", "shape": list(value.shape)})
    return change


def drop_tensor(name, from_manifest):
    def change(meta, tensors):
        del tensors[name]
        if from_manifest:
            meta["tensors"] = [t for t in meta["tensors"] if t["name"] != name]
    return change


def layer_names(class_name):
    def change(meta, tensors):
        for layer in meta["model"]["config"]["layers"]:
            layer["class_name"] = class_name
    return change


HOSTILE = {
    "wrong format name": (set_key("format", "keras"), "format"),
    "future version": (set_key("format_version", 99), "newer"),
    "bool version": (set_key("format_version", True), "format_version"),
    "extra top-level key": (set_key("exec", "import os"), "keys"),
    "missing key": (lambda m, t: m.pop("tensors") and None, "keys"),
    "model class os.system": (set_key("model", {"class_name": "os.system", "config": {"layers": []}}), "model class"),
    "layer class os.system": (set_layer(0, "os.system"), "unknown layer class"),
    "layer class __import__": (layer_names("__import__"), "unknown layer class"),
    "layer class not a string": (set_layer(0, ["Dense"]), "class_name"),
    "invalid layer config": (set_layer(1, units=-3), "model config"),
    "unexpected layer argument": (set_layer(1, command="rm -rf /"), "model config"),
    "deeply nested config": (set_layer(1, extra=nested(100)), "nested"),
    "compile_config not a dict": (set_key("compile_config", [1]), "compile_config"),
    "unknown optimizer": (lambda m, t: m["compile_config"].update(optimizer={"class_name": "os.system",
                                                                            "config": {}}), "compile_config"),
    "negative iterations": (set_key("optimizer_iterations", -1), "iterations"),
    "float iterations": (set_key("optimizer_iterations", 1.5), "iterations"),
    "tensors not a list": (set_key("tensors", {"weights/0": [4, 6]}), "tensors"),
    "manifest dtype float64": (set_manifest(0, dtype="float64"), "dtype"),
    "manifest shape wrong": (set_manifest(0, shape=[6, 4]), "shape"),
    "manifest shape negative": (set_manifest(0, shape=[-4, -6]), "shape"),
    "manifest shape huge": (set_manifest(0, shape=[1 << 20, 1 << 20]), "bytes"),
    "manifest name traversal": (set_manifest(0, name="../weights/0"), "name"),
    "manifest extra entry": (lambda m, t: m["tensors"].append({"name": "optimizer/x", "dtype": "float32",
                                                              "shape": [1]}), "manifest"),
    "manifest reordered": (lambda m, t: m["tensors"].insert(0, m["tensors"].pop(1)), "weights"),
    "tensor float64": (replace_tensor("weights/0", np.zeros((4, 6), np.float64)), "dtype"),
    "tensor int32": (replace_tensor("weights/1", np.zeros(6, np.int32)), "dtype"),
    "tensor wrong shape": (replace_tensor("weights/0", np.zeros((6, 4), np.float32)), "shape"),
    "tensor extra": (add_tensor("weights/9", np.zeros(2, np.float32), in_manifest=False), "extra"),
    "tensor missing": (drop_tensor("weights/3", from_manifest=False), "missing"),
    "model weight dropped consistently": (drop_tensor("weights/3", from_manifest=True), "weight shapes"),
    "config does not match weights": (set_layer(2, units=5), "weight shapes"),
    "optimizer state wrong shape": (lambda m, t: [e.update(shape=[5]) for e in m["tensors"]
                                                  if e["name"].startswith("optimizer/")] and
                                    {k: (v[:5] if k.startswith("optimizer/") else v) for k, v in t.items()},
                                    "optimizer state"),
    "optimizer state in uncompiled file": (set_key("compile_config", None), "uncompiled"),
    "weights garbage": (lambda m, t: os.urandom(500), "safetensors"),
    "weights header too long": (lambda m, t: struct.pack("<Q", 1 << 40) + b"{}", "header"),
    "weights padded": (lambda m, t: st_save(t) + b"\x00" * 8, "buffer"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_contents(trained, case):
    change, message = HOSTILE[case]
    _, path = trained
    mutate(path, change)
    assert_rejected(path, message)


def declare_wide_input(route, width):
    """Make the model's input `width` wide through one of the three ways a config can give an input shape."""
    def change(meta, tensors):
        config = meta["model"]["config"]
        if route == "input layer":
            config["layers"][0]["config"]["batch_shape"] = [None, width]
            return
        del config["layers"][0]
        if route == "first layer argument":
            config["layers"][0]["config"]["input_shape"] = [width]
        else:
            config["build_input_shape"] = [None, width]
    return change


@pytest.mark.parametrize("route", ["input layer", "first layer argument", "build_input_shape"])
def test_oversized_architecture_is_refused_before_building(trained, monkeypatch, route):
    """A config declaring a 50000 x 50000 kernel (10 GB) next to small tensors allocates nothing."""
    _, path = trained
    widen = declare_wide_input(route, 50_000)

    def change(meta, tensors):
        widen(meta, tensors)
        meta["model"]["config"]["layers"][-2]["config"]["units"] = 50_000

    mutate(path, change)

    def must_not_build(*args, **kwargs):
        pytest.fail("load_model built a model whose config does not match the file's weights")

    monkeypatch.setattr(fastnn.Sequential, "build", must_not_build)
    monkeypatch.setattr(fastnn.layers.Layer, "add_weight", must_not_build)
    assert_rejected(path, "weight shapes|weight of shape .* more than the limit")


def test_nan_constant_in_json(trained):
    _, path = trained
    meta, tensors = read_members(path)
    text = json.dumps(meta).replace('"format_version": 1', '"format_version": NaN')
    write_file(path, text.encode(), tensors)
    assert_rejected(path, "NaN")


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastnn.load_model(tmp_path / "absent.fnn")


def test_validation_layer_on_synthetic_safetensors():
    data = st_save({"a": np.ones((2, 3), np.float32), "b": np.zeros(4, np.float32)})
    arrays = _strictread.decode_tensors(data, {"a": (2, 3), "b": (4,)}, "buf")
    np.testing.assert_array_equal(arrays["a"], np.ones((2, 3), np.float32))
    with pytest.raises(ModelFileError, match="shape"):
        _strictread.decode_tensors(data, {"a": (3, 2), "b": (4,)}, "buf")
    with pytest.raises(ModelFileError, match="missing"):
        _strictread.decode_tensors(data, {"a": (2, 3), "b": (4,), "c": (1,)}, "buf")
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_len])
    header["a"]["data_offsets"] = [0, 4]
    forged = json.dumps(header).encode()
    with pytest.raises(ModelFileError, match="byte range"):
        _strictread.decode_tensors(struct.pack("<Q", len(forged)) + forged + data[8 + header_len:], {}, "buf")
    with pytest.raises(ModelFileError):
        _strictread.decode_tensors(io.BytesIO(data).read()[:30], {"a": (2, 3), "b": (4,)}, "buf")


def test_random_corruption_only_ever_raises_modelfileerror(trained):
    """Flip, overwrite and cut bytes at random: loading either succeeds or raises ModelFileError."""
    _, path = trained
    original = path.read_bytes()
    rng = np.random.default_rng(2024)
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.integers(1, 4)):
            position = int(rng.integers(len(data)))
            if rng.random() < 0.2:
                data = data[:position]
                break
            data[position] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(data))
        try:
            fastnn.load_model(path)
        except ModelFileError:
            pass


def json_paths(node, prefix=()):
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield prefix + (key,)
        yield from json_paths(value, prefix + (key,))


def test_any_json_value_of_the_wrong_type_is_a_modelfileerror_or_harmless(trained):
    _, path = trained
    meta, tensors = read_members(path)
    for json_path in list(json_paths(meta)):
        for value in (None, "os.system", -1, {"class_name": "os.system", "config": {}}):
            changed = json.loads(json.dumps(meta))
            node = changed
            for key in json_path[:-1]:
                node = node[key]
            node[json_path[-1]] = value
            write_file(path, changed, tensors)
            try:
                fastnn.load_model(path)
            except ModelFileError:
                pass


def test_unbuilt_model_cannot_be_saved(tmp_path):
    model = fastnn.Sequential([Dense(3)])
    for save in (saving.save_model, saving.save_weights):
        with pytest.raises(ValueError, match="not built"):
            save(model, tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_a_3000_layer_model_builds_saves_and_loads_in_seconds(tmp_path):
    # Sequential.add once rebuilt and repacked the whole model per add: 8,000 layers took 51 s to load.
    # Linear work takes ~0.3 s here; the bound only catches a return of the quadratic cost.
    start = time.perf_counter()
    model = fastnn.Sequential([Input((4,))])
    for _ in range(3000):
        model.add(Dropout(0.1))
    model.add(Dense(1))
    model.save(tmp_path / "deep.fnn")
    loaded = fastnn.load_model(tmp_path / "deep.fnn")
    assert len(loaded.layers) == 3001
    assert time.perf_counter() - start < 10
