"""Hostile model files for fuzzing the loader: valid seed files and structure-aware mutations of them.

A mutation is driven by a source of choices with the methods randrange(n), random(), choice(seq) and
randbytes(n): random.Random, Hypothesis's st.randoms(), or atheris's data through FuzzedChoices. It works at
every level a file has: raw bytes; the zip (member names, order, compression, header fields); model.json
(any value anywhere, keys dropped or added); and the safetensors member (header entries, length, body).

check_load(data, kind) is the property: loading the bytes either works or raises ModelFileError (OSError
for I/O), within bounded memory. Anything else propagates as a finding.
"""
import functools
import io
import json
import os
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np

import fastnn
from fastnn.layers import (BatchNormalization, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input,
                           MaxPooling2D, Reshape)
from fastnn.saving import ModelFileError

# A loaded model may allocate its weights (bounded by the ~10 KB seeds times the compression limit) and
# NumPy/zipfile buffers; anything near this for such small files is unbounded growth.
MEMORY_LIMIT_BYTES = 64 << 20
PREDICT_LIMIT_ELEMENTS = 100_000

INTERESTING_INTS = [0, 1, -1, 2, 3, 7, 255, 256, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 62, 2 ** 63,
                    -2 ** 63, 2 ** 64, 10 ** 20, 10 ** 300]
INTERESTING_STRINGS = ["", "a", "float32", "F32", "F16", "I64", "weights/0", "optimizer/m", "Sequential", "Dense",
                       "Dropout", "Reshape", "Flatten", "InputLayer", "AUC", "Adam", "SGD", "mse", "relu",
                       "os.system", "__import__", "../x", "\udcff", "x" * 300]
INTERESTING_VALUES = [None, True, False, 0.5, -0.0, 1e308, -1e308, 5e-324, [], {}, [None], [1] * 9,
                      [2 ** 31] * 8, [0], {"class_name": "Dense", "config": {}}, {"class_name": "AUC",
                      "config": {"num_thresholds": 10 ** 9}}]


def _model_seeds():
    fastnn.set_seed(0)
    full = fastnn.Sequential([Input((4,)), Dense(6, activation="relu"), Dropout(0.3, noise_shape=(None, 1)),
                              Reshape((3, 2)), Flatten(), Dense(3, activation="softmax")])
    full.compile(optimizer="adam", loss="categorical_crossentropy",
                 metrics=["accuracy", fastnn.metrics.AUC(num_thresholds=20), fastnn.metrics.Precision()])
    x = np.random.default_rng(0).random((16, 4), dtype=np.float32)
    full.fit(x, np.eye(3, dtype=np.float32)[np.arange(16) % 3], epochs=1, batch_size=8, verbose=0)
    schedule = fastnn.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    momentum = fastnn.Sequential([Dense(2, input_dim=3)])
    momentum.compile(optimizer=fastnn.optimizers.SGD(schedule, momentum=0.9), loss="mse", metrics=["mae"])
    plain = fastnn.Sequential([Input((2,)), Dense(1, use_bias=False)])
    cnn = fastnn.Sequential([Input((5, 5, 1)), Conv2D(2, 3, padding="same", activation="relu"), BatchNormalization(),
                             MaxPooling2D(), GlobalAveragePooling2D(), Dense(2)])
    return full, momentum, plain, cnn


@functools.lru_cache(maxsize=None)
def seeds():
    """[(kind, bytes)]: .fnn files ('model') of four models and a weights file ('weights') of the first."""
    models = _model_seeds()
    result = []
    with tempfile.TemporaryDirectory() as directory:
        for i, model in enumerate(models):
            path = os.path.join(directory, f"{i}.fnn")
            model.save(path)
            with open(path, "rb") as f:
                result.append(("model", f.read()))
        path = os.path.join(directory, "w.safetensors")
        models[0].save_weights(path)
        with open(path, "rb") as f:
            result.append(("weights", f.read()))
    return result


@functools.lru_cache(maxsize=None)
def _weights_target():
    return _model_seeds()[0]


class FuzzedChoices:
    """The choice methods mutations use, drawn from an atheris.FuzzedDataProvider."""

    def __init__(self, provider):
        self._provider = provider

    def randrange(self, n):
        return self._provider.ConsumeIntInRange(0, n - 1)

    def random(self):
        return self._provider.ConsumeProbability()

    def choice(self, seq):
        return seq[self.randrange(len(seq))]

    def randbytes(self, n):
        return self._provider.ConsumeBytes(n)


# ------------------------------------------------------------------------------------------- JSON values

def random_json(rng, depth=0):
    """A JSON-able value: mostly interesting scalars, sometimes a small nested list or object."""
    kind = rng.randrange(6 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(INTERESTING_INTS) + rng.choice([0, 0, 1, -1])
    if kind == 1:
        return rng.choice(INTERESTING_STRINGS)
    if kind in (2, 3):
        return json.loads(json.dumps(rng.choice(INTERESTING_VALUES)))
    if kind == 4:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(INTERESTING_STRINGS): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def _containers(node, found):
    if isinstance(node, (dict, list)):
        found.append(node)
        for child in (node.values() if isinstance(node, dict) else node):
            _containers(child, found)
    return found


def mutate_json(rng, value):
    """Change one place of a parsed JSON document: replace, drop, add or duplicate a value."""
    containers = _containers(value, [])
    if not containers:
        return random_json(rng)
    node = rng.choice(containers)
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    action = rng.randrange(4)
    if action == 0 and keys:
        node[rng.choice(keys)] = random_json(rng)
    elif action == 1 and keys:
        del node[rng.choice(keys)]
    elif action == 2 and isinstance(node, dict):
        node[rng.choice(INTERESTING_STRINGS)] = random_json(rng)
    elif keys:
        key = rng.choice(keys)
        if isinstance(node, list):
            node.insert(rng.randrange(len(node) + 1), json.loads(json.dumps(node[key])))
        else:
            node[key] = [node[key], node[key]]
    return value


# ----------------------------------------------------------------------------------------------- members

def read_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def write_members(rng, members):
    """A zip of (name, bytes) with randomly chosen compression per member (stored or deflated, sometimes other)."""
    methods = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repeated member names are one of the mutations
        for name, payload in members:
            zf.writestr(name, payload, compress_type=rng.choice(methods))
    return buffer.getvalue()


def mutate_model_json(rng, payload):
    try:
        value = json.loads(payload)
    except ValueError:
        return rng.randbytes(rng.randrange(64))
    for _ in range(1 + rng.randrange(3)):
        value = mutate_json(rng, value)
    return json.dumps(value).encode()


def mutate_safetensors(rng, payload):
    """Change the header (entries, shapes, offsets, dtypes), its length prefix, or the body's length."""
    if len(payload) < 8:
        return payload + rng.randbytes(8)
    header_size = int.from_bytes(payload[:8], "little")
    try:
        header = json.loads(payload[8:8 + header_size])
    except ValueError:
        header = {}
    body = payload[8 + header_size:]
    action = rng.randrange(4)
    if action == 0:
        header = mutate_json(rng, header)
    elif action == 1:
        return struct.pack("<Q", rng.choice(INTERESTING_INTS) % 2 ** 64) + payload[8:]
    elif action == 2:
        cut = rng.randrange(len(body) + 1)
        body = body[:cut] if rng.random() < 0.5 else body + rng.randbytes(rng.randrange(64))
    else:
        tensors = [name for name in header if name != "__metadata__"] if isinstance(header, dict) else []
        if tensors:
            entry = header[rng.choice(tensors)]
            if isinstance(entry, dict):
                entry[rng.choice(["shape", "data_offsets", "dtype"])] = random_json(rng)
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + body


def mutate_members(rng, data):
    members = read_members(data)
    action = rng.randrange(6)
    index = rng.randrange(len(members))
    name, payload = members[index]
    if action <= 1:
        change = mutate_safetensors if name.endswith(".safetensors") else mutate_model_json
        members[index] = (name, change(rng, payload))
    elif action == 2:
        members[index] = (rng.choice(["model.json", "weights.safetensors", "../model.json", "x"]), payload)
    elif action == 3:
        members.insert(rng.randrange(len(members) + 1), rng.choice(members))
    elif action == 4 and len(members) > 1:
        del members[index]
    else:
        members.reverse()
    return write_members(rng, members)


# ----------------------------------------------------------------------------------------------- bytes

def mutate_bytes(rng, data):
    """Flip, overwrite, insert, delete, duplicate or truncate raw bytes, or overwrite a zip header field."""
    data = bytearray(data)
    action = rng.randrange(6)
    position = rng.randrange(len(data) + 1)
    if action == 0 and data:
        data[min(position, len(data) - 1)] ^= 1 << rng.randrange(8)
    elif action == 1:
        value = rng.choice(INTERESTING_INTS) % 2 ** 32
        data[position:position + 4] = struct.pack("<I", value)
    elif action == 2:
        data[position:position] = rng.randbytes(1 + rng.randrange(16))
    elif action == 3:
        del data[position:position + 1 + rng.randrange(64)]
    elif action == 4:
        data[position:position] = data[rng.randrange(len(data) + 1):][:1 + rng.randrange(256)]
    else:
        signature = rng.choice([b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"])
        at = data.find(signature, rng.randrange(len(data) + 1))
        if at < 0:
            at = data.find(signature)
        if at >= 0:
            field = at + 4 + 2 * rng.randrange(12)
            data[field:field + 2] = struct.pack("<H", rng.choice(INTERESTING_INTS) % 65536)
    return bytes(data)


def mutate(rng, kind, data):
    """One to three mutations at random levels (the weights file is a bare safetensors, not a zip)."""
    for _ in range(1 + rng.randrange(3)):
        level = rng.randrange(3)
        if level == 0:
            data = mutate_bytes(rng, data)
        elif kind == "weights":
            data = mutate_safetensors(rng, data)
        else:
            try:
                data = mutate_members(rng, data)
            except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, NotImplementedError, RuntimeError):
                data = mutate_bytes(rng, data)  # no longer a zip this module can unpack
    return data


def fuzz_case(rng):
    """(kind, bytes) of one generated hostile file."""
    kind, data = rng.choice(seeds())
    return kind, mutate(rng, kind, data)


# ------------------------------------------------------------------------------------------- the property

def _exercise(model):
    """Run a loaded model once, if its input is small: a model that loaded must also work."""
    shape = model.input_shape
    if shape is None or None in shape[1:] or int(np.prod(shape[1:], dtype=np.float64)) > PREDICT_LIMIT_ELEMENTS:
        return
    try:
        model.predict(np.zeros((2,) + tuple(shape[1:]), np.float32), verbose=0)
    except ValueError:  # a config that loads but does not fit its own layers (e.g. a Reshape of another size)
        pass


def check_load(data, kind, path):
    """Load `data` (written to path) as a model or weights file; 'loaded', 'refused' or 'oserror'.

    Raises AssertionError when loading took more than MEMORY_LIMIT_BYTES (NumPy included), and lets any
    exception other than ModelFileError and OSError through. The caller keeps tracemalloc tracing: a long
    run starts it once (starting and stopping it for every case leaks about 2 KB each time).
    """
    with open(path, "wb") as f:
        f.write(data)
    assert tracemalloc.is_tracing(), "check_load measures memory with tracemalloc: start it first"
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        if kind == "weights":
            fastnn.saving.load_weights(_weights_target(), path)
        else:
            _exercise(fastnn.load_model(path))
        outcome = "loaded"
    except ModelFileError:
        outcome = "refused"
    except OSError:
        outcome = "oserror"
    peak = tracemalloc.get_traced_memory()[1] - before
    assert peak < MEMORY_LIMIT_BYTES, f"loading a {len(data)}-byte file traced {peak} bytes"
    return outcome
