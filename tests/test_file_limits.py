"""Hostile model files are refused in bounded time and memory: header rank, config-requested sizes, inflation."""
import contextlib
import json
import signal
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save as st_save

import fastnn
from fastnn import _fnnfile, _strictread, saving
from fastnn.layers import Dense, Dropout, Embedding, Flatten, Reshape, UpSampling2D
from fastnn.saving import ModelFileError


@contextlib.contextmanager
def hang_guard(seconds=20):
    """Fail instead of hanging the suite when a check regresses to super-linear time."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def peak_memory():
    """Yields a dict whose 'peak' is the traced peak (bytes) of the block, NumPy buffers included."""
    result = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def small_model(*extra_layers, metrics=()):
    fastnn.set_seed(3)
    model = fastnn.Sequential([fastnn.layers.Input((4,)), Dense(6, activation="relu"), *extra_layers, Dense(2)])
    model.compile(optimizer="adam", loss="mse", metrics=list(metrics))
    return model


def members(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("model.json")), zf.read("weights.safetensors")


def rewrite(path, meta, tensor_bytes, compress_tensors=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.json", json.dumps(meta), compress_type=zipfile.ZIP_STORED)
        zf.writestr("weights.safetensors", tensor_bytes, compress_type=compress_tensors)


def safetensors_bytes(header, body=b""):
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + body


# ------------------------------------------------------------------------------------ safetensors header

def test_header_with_a_huge_rank_is_refused_quickly():
    """A 250,000-dimension shape took 92 s (the size check multiplied ever larger integers)."""
    header = {"weights/0": {"dtype": "F32", "shape": [2 ** 62] * 250_000, "data_offsets": [0, 4]}}
    with hang_guard(), pytest.raises(ModelFileError, match="rank"):
        _strictread.decode_tensors(safetensors_bytes(header, b"\0" * 4), {"weights/0": (1,)}, "buf")


def test_header_with_many_tensors_is_checked_in_linear_time():
    count = _strictread.MAX_TENSORS
    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(count)}
    data = safetensors_bytes(header, b"\0" * 4 * count)
    with hang_guard(), pytest.raises(ModelFileError, match="manifest"):
        _strictread.decode_tensors(data, {"weights/0": (1,)}, "buf")
    header["extra"] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    with hang_guard(), pytest.raises(ModelFileError, match="tensors"):
        _strictread.decode_tensors(safetensors_bytes(header, b"\0" * 4 * count), {}, "buf")


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 4]}, "shape"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}, "offsets"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [2 ** 70, 2 ** 70 + 4]}, "offsets"),
    ({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}, "malformed"),
])
def test_header_values_out_of_range(entry, message):
    with pytest.raises(ModelFileError, match=message):
        _strictread.decode_tensors(safetensors_bytes({"weights/0": entry}, b"\0" * 4), {"weights/0": (1,)}, "buf")


# ------------------------------------------------------------------------------------------- inflation

def compressible_payload(size, every=64):
    """Bytes that deflate at a ratio well under the limit of 200, so only the size checks can refuse them."""
    payload = np.zeros(size, np.uint8)
    payload[::every] = np.random.default_rng(0).integers(0, 256, size=payload[::every].size, dtype=np.uint8)
    return payload.tobytes()


def test_oversized_weights_member_is_refused_before_inflating(tmp_path):
    """The safetensors header is checked against the manifest before the body is inflated."""
    model = small_model()
    path = tmp_path / "m.fnn"
    model.save(path)
    meta, tensor_bytes = members(path)
    size = 32 << 20
    header = {"weights/0": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size]}}
    rewrite(path, meta, safetensors_bytes(header, compressible_payload(size)), zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights.safetensors")
    assert info.file_size < _fnnfile.MAX_COMPRESSION_RATIO * info.compress_size
    with peak_memory() as memory, pytest.raises(ModelFileError, match="manifest"):
        fastnn.load_model(path)
    assert memory["peak"] < 4 << 20


def test_padded_weights_member_is_refused_before_inflating(tmp_path):
    """A member longer than the tensors its header (and the manifest) declare is refused from its size."""
    model = small_model()
    path = tmp_path / "m.fnn"
    model.save(path)
    meta, tensor_bytes = members(path)
    rewrite(path, meta, tensor_bytes + compressible_payload(32 << 20), zipfile.ZIP_DEFLATED)
    with peak_memory() as memory, pytest.raises(ModelFileError, match="buffer"):
        fastnn.load_model(path)
    assert memory["peak"] < 4 << 20


def test_loading_holds_the_tensors_once(tmp_path):
    """Tensors are read straight into their arrays: the peak is about their size, not two or three copies."""
    fastnn.set_seed(0)
    model = fastnn.Sequential([fastnn.layers.Input((1000,)), Dense(2000)])
    path = tmp_path / "big.fnn"
    saving.save_weights(model, path.with_suffix(".safetensors"))
    with peak_memory() as memory:
        weights = _fnnfile.read_weights_file(path.with_suffix(".safetensors"))
    nbytes = sum(w.nbytes for w in weights)
    assert memory["peak"] < nbytes + (2 << 20)


# ------------------------------------------------------------------------------ sizes a config asks for

def saved_with(tmp_path, change, *extra_layers, metrics=()):
    model = small_model(*extra_layers, metrics=metrics)
    path = tmp_path / "m.fnn"
    model.save(path)
    meta, tensor_bytes = members(path)
    change(meta)
    rewrite(path, meta, tensor_bytes)
    return path


def set_metric(**config):
    def change(meta):
        meta["compile_config"]["metrics"] = [{"class_name": "AUC", "config": config}]
    return change


@pytest.mark.parametrize("config", [{"num_thresholds": 2_000_000},
                                    {"thresholds": [0.5] * 200_000},
                                    {"num_thresholds": 2 ** 62}])
def test_auc_sizes_are_capped(tmp_path, config):
    """A 4 KB file asking for AUC(num_thresholds=10**8) loaded with 3.5 GB."""
    path = saved_with(tmp_path, set_metric(**config))
    with pytest.raises(ModelFileError, match="thresholds"):
        fastnn.load_model(path)


@pytest.mark.parametrize("metric", [fastnn.metrics.AUC, fastnn.metrics.Precision, fastnn.metrics.Recall])
def test_threshold_metrics_refuse_oversized_requests(metric):
    with pytest.raises(ValueError, match="thresholds"):
        metric(thresholds=[0.5] * (fastnn.metrics.confusion.MAX_THRESHOLDS + 1))
    if metric is fastnn.metrics.AUC:
        with pytest.raises(ValueError, match="num_thresholds"):
            metric(num_thresholds=fastnn.metrics.confusion.MAX_THRESHOLDS + 1)
        assert metric(num_thresholds=fastnn.metrics.confusion.MAX_THRESHOLDS).true_positives.size > 0


def test_number_of_metrics_is_capped(tmp_path):
    def many_metrics(meta):
        meta["compile_config"]["metrics"] = ["mae"] * (_fnnfile.MAX_METRICS + 1)

    with pytest.raises(ModelFileError, match="metrics"):
        fastnn.load_model(saved_with(tmp_path, many_metrics))


def set_layer_config(index, **config):
    def change(meta):
        meta["model"]["config"]["layers"][index]["config"].update(config)
    return change


@pytest.mark.parametrize("noise_shape", [[None, 1_000_000], [None, 7], [1, 6, 1]])
def test_dropout_noise_shape_must_broadcast_to_the_input(tmp_path, noise_shape):
    path = saved_with(tmp_path, set_layer_config(2, noise_shape=noise_shape), Dropout(0.5))
    with pytest.raises(ModelFileError, match="noise_shape"):
        fastnn.load_model(path)


def test_dropout_noise_shape_that_broadcasts_still_trains():
    model = small_model(Dropout(0.5, noise_shape=(1, 6)))
    x = np.ones((8, 4), np.float32)
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    fixed_batch = small_model(Dropout(0.5, noise_shape=(64, 6)))
    with pytest.raises(ValueError, match="noise_shape"):
        fixed_batch.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)


def huge_build_input_shape(meta):
    config = meta["model"]["config"]
    del config["layers"][0]
    config["build_input_shape"] = [None] + [2 ** 62] * 200_000


@pytest.mark.parametrize("change, message", [
    (huge_build_input_shape, "build_input_shape"),
    (set_layer_config(2, target_shape=[2 ** 62] * 200_000), "target_shape"),
    (set_layer_config(2, target_shape=[2 ** 40, 2 ** 40]), "target_shape"),
    (set_layer_config(0, batch_shape=[None] + [2 ** 62] * 200_000), "batch_shape"),
    (set_layer_config(0, batch_shape=[None, 2 ** 40]), "batch_shape"),
])
def test_shapes_in_a_config_are_capped(tmp_path, change, message):
    path = saved_with(tmp_path, change, Reshape((3, 2)), Flatten())
    with hang_guard(), pytest.raises(ModelFileError, match=message):
        fastnn.load_model(path)


def test_capped_shape_checks_still_accept_ordinary_models(tmp_path):
    model = small_model(Reshape((3, 2)), Flatten(), Dropout(0.2, noise_shape=(None, 1)),
                        metrics=[fastnn.metrics.AUC(num_thresholds=1000)])
    model.save(tmp_path / "m.fnn")
    restored = fastnn.load_model(tmp_path / "m.fnn")
    assert restored.get_config() == model.get_config()
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_weights_file_is_read_without_safetensors_copies(tmp_path):
    tensors = {"weights/0": np.arange(6, dtype=np.float32).reshape(2, 3), "weights/1": np.zeros(0, np.float32)}
    path = tmp_path / "w.safetensors"
    path.write_bytes(st_save(tensors))
    weights = _fnnfile.read_weights_file(path)
    np.testing.assert_array_equal(weights[0], tensors["weights/0"])
    assert weights[1].shape == (0,) and all(w.dtype == np.float32 and w.flags.writeable for w in weights)


def test_zip_with_a_huge_central_directory_is_refused_before_parsing_it(tmp_path):
    """zipfile builds one ZipInfo per declared member; a model file has two, so a large directory is refused."""
    path = tmp_path / "many.fnn"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(100_000):
            zf.writestr(f"{i}", b"")
    with peak_memory() as memory, pytest.raises(ModelFileError, match="central directory"):
        fastnn.load_model(path)
    assert memory["peak"] < 1 << 20
    with peak_memory() as memory, pytest.raises(ModelFileError, match="central directory"):
        _fnnfile.read_weights_file(path)
    assert memory["peak"] < 1 << 20


def _saved(tmp_path, model, index, **config):
    """model saved, then the config of its layer `index` (functional: by name) changed to `config`."""
    path = tmp_path / "m.fnn"
    model.save(path)
    meta, tensor_bytes = members(path)
    layers = meta["model"]["config"]["layers"]
    entry = layers[index] if isinstance(index, int) else next(e for e in layers if e["name"] == index)
    entry["config"].update(config)
    rewrite(path, meta, tensor_bytes)
    return path


def _image_model():
    return fastnn.Sequential([fastnn.Input((4, 4, 1)), UpSampling2D(2), Flatten(), Dense(2)])


def _embedding_model():
    return fastnn.Sequential([fastnn.Input((3,), dtype="int64"), Embedding(10, 2), Flatten(), Dense(2)])


def _functional_image_model():
    inputs = fastnn.Input((4, 4, 1))
    return fastnn.Model(inputs, Dense(2)(Flatten()(UpSampling2D(2, name="up")(inputs))))


@pytest.mark.parametrize("make, index, config, what", [
    (_image_model, 1, {"size": [100_000, 100_000]}, "output"),
    (_functional_image_model, "up", {"size": [100_000, 100_000]}, "output"),
    (small_model, 1, {"units": 10 ** 12}, "weight"),
    (_embedding_model, 1, {"input_dim": 10 ** 12}, "weight"),
    (_embedding_model, 1, {"output_dim": 2 ** 27}, "weight"),
])
def test_configs_asking_for_huge_weights_or_outputs_are_refused_at_load(tmp_path, make, index, config, what):
    fastnn.set_seed(0)
    path = _saved(tmp_path, make(), index, **config)
    with hang_guard(), peak_memory() as memory, pytest.raises(ModelFileError, match=f"declares an? {what} of "
                                                                                    f"shape .* more than the limit") as caught:
        fastnn.load_model(path)
    assert memory["peak"] < 32 << 20
    assert str(caught.value).count("invalid model config") == 1


@pytest.mark.parametrize("flag", [{"use_bias": "x"}, {"use_bias": [0, 0]}, {"trainable": {}}])
def test_true_false_arguments_must_be_booleans(tmp_path, flag):
    path = _saved(tmp_path, small_model(), 1, **flag)
    with pytest.raises(ModelFileError, match=f"{next(iter(flag))}=.*expected true or false"):
        fastnn.load_model(path)


@pytest.mark.parametrize("flag", [True, "x", -1])
def test_a_list_call_of_a_one_input_layer_is_refused(tmp_path, flag):
    """A call recorded as taking a list is only valid for merge layers and models: a Dense given one would
    load and then fail in predict."""
    path = tmp_path / "m.fnn"
    inputs = fastnn.Input((4,))
    fastnn.Model(inputs, Dense(2, name="head")(Dense(3)(inputs))).save(path)
    meta, tensor_bytes = members(path)
    head = next(e for e in meta["model"]["config"]["layers"] if e["name"] == "head")
    head["inbound_nodes"][0]["list"] = flag
    rewrite(path, meta, tensor_bytes)
    with pytest.raises(ModelFileError, match="list="):
        fastnn.load_model(path)


def test_values_a_layer_refuses_are_a_corrupt_file(tmp_path):
    """An int8 kernel holding NaN fails the layer's own check: load_model says the file is corrupt."""
    from fastnn.optimize import quantize_dynamic

    path = tmp_path / "q.fnn"
    quantize_dynamic(small_model()).save(path)
    meta, tensor_bytes = members(path)
    header_length = int.from_bytes(tensor_bytes[:8], "little")
    header = json.loads(tensor_bytes[8:8 + header_length])
    start = 8 + header_length + header["weights/0"]["data_offsets"][0]  # the first Dense's int8 kernel
    corrupt = bytearray(tensor_bytes)
    corrupt[start:start + 4] = np.float32(np.nan).tobytes()
    rewrite(path, meta, bytes(corrupt))
    with pytest.raises(ModelFileError, match="int8"):
        fastnn.load_model(path)
