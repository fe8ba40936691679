"""The .fnn container: writing it atomically and reading it back with every byte checked.

This module knows the file format and nothing about models; fastnn.saving turns models into what is
written here and back. A model file is one zip archive holding exactly two members:

- ``model.json``: ``{"format": "fastnn.model", "format_version": 1, "fastnn_version": str,
  "model": {"class_name": "Sequential", "config": model.get_config()},
  "compile_config": model.compile_config() or null, "optimizer_iterations": int or null,
  "tensors": [{"name": str, "dtype": "float32", "shape": [int, ...]}, ...]}``
- ``weights.safetensors`` (stored uncompressed): the model weights as ``weights/0``, ``weights/1``, ... in
  ``model.get_weights()`` order, then the optimizer state as ``optimizer/<name>`` (``opt.state_arrays()``).

A weights file is a plain safetensors file holding only ``weights/<i>`` (readable by any safetensors tool).

Every member, size, JSON field, tensor name, dtype and shape is checked; anything unexpected raises
:class:`ModelFileError` (limits: model.json up to 16 MiB and 32 levels deep, tensors up to 2 GiB,
compression ratio up to 200). Writes go to a temporary file in the target directory that replaces the
target only once complete.
"""
import contextlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
import zlib

import numpy as np

FORMAT_NAME = "fastnn.model"
WEIGHTS_FORMAT_NAME = "fastnn.weights"
FORMAT_VERSION = 1
JSON_MEMBER = "model.json"
TENSORS_MEMBER = "weights.safetensors"
MAX_JSON_BYTES = 16 << 20
MAX_TENSOR_BYTES = 2 << 30
MAX_COMPRESSION_RATIO = 200
MAX_JSON_DEPTH = 32
MAX_TENSORS = 100_000
MAX_RANK = 8
_TENSOR_NAME = re.compile(r"weights/(0|[1-9][0-9]{0,5})|optimizer/[A-Za-z_][A-Za-z0-9_]{0,63}")
_META_KEYS = {"format", "format_version", "fastnn_version", "model", "compile_config", "optimizer_iterations",
              "tensors"}


class ModelFileError(ValueError):
    """A model or weights file is corrupt, truncated, oversized, of another format, or does not fit."""


# ---------------------------------------------------------------------------------------------- writing

def _file_mode(path):
    """Permission bits for the new file: the old file's, else what open() would give (0o666 minus umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, write):
    """Call write(file) on a temporary file beside path, fsync it and rename it over path.

    On any error (or interruption) the temporary file is removed and path is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too, where a directory can be opened
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _encode_tensors(tensors, format_name):
    from safetensors.numpy import save

    arrays = {name: np.array(a, dtype=np.float32, order="C", copy=None) for name, a in tensors.items()}  # 0-d stays 0-d
    return save(arrays, metadata={"format": format_name, "format_version": str(FORMAT_VERSION)})


def _named_tensors(weights, optimizer_state):
    tensors = {f"weights/{i}": w for i, w in enumerate(weights)}
    tensors.update((f"optimizer/{name}", a) for name, a in optimizer_state.items())
    return tensors


def write_model_file(path, model, compile_config, optimizer_iterations, weights, optimizer_state):
    """Write a .fnn file atomically.

    Args:
        path: destination; replaced atomically if it exists.
        model: ``{"class_name", "config"}`` of the model.
        compile_config: the model's compile_config(), or None if it is not compiled.
        optimizer_iterations: the optimizer's step count, or None if not compiled.
        weights: the model's weights in get_weights() order.
        optimizer_state: {name: array}, the optimizer's state_arrays() (empty if not compiled).
    """
    from . import __version__

    tensors = _named_tensors(weights, optimizer_state)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastnn_version": __version__,
        "model": model,
        "compile_config": compile_config,
        "optimizer_iterations": optimizer_iterations,
        "tensors": [{"name": name, "dtype": "float32", "shape": list(np.shape(a))} for name, a in tensors.items()],
    }
    json_bytes = json.dumps(meta, indent=1, allow_nan=False).encode("utf-8")
    tensor_bytes = _encode_tensors(tensors, FORMAT_NAME)

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(JSON_MEMBER, json_bytes, compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr(TENSORS_MEMBER, tensor_bytes, compress_type=zipfile.ZIP_STORED)

    atomic_write(path, write)


def write_weights_file(path, weights):
    """Write weights (a list of arrays) atomically as a plain safetensors file of ``weights/<i>``."""
    data = _encode_tensors(_named_tensors(weights, {}), WEIGHTS_FORMAT_NAME)
    atomic_write(path, lambda f: f.write(data))


# ------------------------------------------------------------------------------------ JSON and model.json

def _reject_constant(name):
    raise ModelFileError(f"JSON holds the non-standard constant {name}")


def _unique_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ModelFileError(f"JSON object repeats the key {key!r}")
        obj[key] = value
    return obj


def _check_depth(value, what):
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (walked iteratively, so nothing recurses deeply)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ModelFileError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)


def _parse_json(data, what):
    """Strict JSON: UTF-8, no NaN/Infinity, no repeated keys, bounded depth."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except ModelFileError as e:
        raise ModelFileError(f"{what}: {e}") from None
    except RecursionError:
        raise ModelFileError(f"{what} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelFileError(f"{what} is not valid JSON: {e}") from None
    _check_depth(value, what)
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_manifest(tensors):
    """Validate the tensor list of model.json; return it as an ordered {name: shape tuple}."""
    if not isinstance(tensors, list) or len(tensors) > MAX_TENSORS:
        raise ModelFileError(f"model.json: 'tensors' must be a list of at most {MAX_TENSORS} entries")
    manifest, total = {}, 0
    for i, entry in enumerate(tensors):
        if not isinstance(entry, dict) or set(entry) != {"name", "dtype", "shape"}:
            raise ModelFileError(f"model.json: tensors[{i}] must be an object with keys name, dtype, shape")
        name, dtype, shape = entry["name"], entry["dtype"], entry["shape"]
        if not isinstance(name, str) or name in manifest or not _TENSOR_NAME.fullmatch(name):
            raise ModelFileError(f"model.json: tensors[{i}] has an invalid or repeated name {name!r}")
        if dtype != "float32":
            raise ModelFileError(f"model.json: tensor {name!r} has dtype {dtype!r}, only 'float32' is allowed")
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(_is_int(d) and 0 <= d <= MAX_TENSOR_BYTES for d in shape)):
            raise ModelFileError(f"model.json: tensor {name!r} has an invalid shape {shape!r}")
        total += 4 * math.prod(shape)
        if total > MAX_TENSOR_BYTES:
            raise ModelFileError(f"model.json: tensors add up to more than {MAX_TENSOR_BYTES} bytes")
        manifest[name] = tuple(shape)
    names = list(manifest)
    n_weights = sum(1 for n in names if n.startswith("weights/"))
    if names[:n_weights] != [f"weights/{i}" for i in range(n_weights)]:
        raise ModelFileError("model.json: model weights must come first, as weights/0, weights/1, ...")
    return manifest


def _check_meta(meta):
    """Validate the structure and types of model.json (not yet its contents against a model)."""
    if not isinstance(meta, dict):
        raise ModelFileError(f"model.json must hold a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"model.json: format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise ModelFileError(f"model.json: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"model.json: format_version {version} is newer than this fastnn reads "
                             f"({FORMAT_VERSION}); upgrade fastnn")
    if set(meta) != _META_KEYS:
        raise ModelFileError(f"model.json: expected the keys {sorted(_META_KEYS)}, got {sorted(meta)}")
    if not isinstance(meta["fastnn_version"], str):
        raise ModelFileError("model.json: fastnn_version must be a string")
    model = meta["model"]
    if (not isinstance(model, dict) or set(model) != {"class_name", "config"}
            or not isinstance(model["config"], dict)):
        raise ModelFileError("model.json: 'model' must be an object {class_name, config}")
    if model["class_name"] not in ("Sequential", "Functional"):
        raise ModelFileError(f"model.json: unknown model class {model['class_name']!r}")
    if meta["compile_config"] is not None and not isinstance(meta["compile_config"], dict):
        raise ModelFileError("model.json: compile_config must be an object or null")
    iterations = meta["optimizer_iterations"]
    if iterations is not None and not (_is_int(iterations) and 0 <= iterations < 2 ** 62):
        raise ModelFileError(f"model.json: invalid optimizer_iterations {iterations!r}")
    return _check_manifest(meta["tensors"])


# ------------------------------------------------------------------------------------------- safetensors

def read_safetensors_header(data, what):
    """Parse and check the safetensors header: {name: (shape, begin, end)} tiling the buffer."""
    if len(data) < 8:
        raise ModelFileError(f"{what} is truncated ({len(data)} bytes)")
    n = int.from_bytes(data[:8], "little")
    if n > min(len(data) - 8, MAX_JSON_BYTES):
        raise ModelFileError(f"{what}: header length {n} runs past the end of the data")
    header = _parse_json(bytes(data[8:8 + n]), f"{what} header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{what}: header is not a JSON object")
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise ModelFileError(f"{what}: __metadata__ must map strings to strings")
            continue
        if (not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}
                or not isinstance(entry["shape"], list) or not all(_is_int(d) and d >= 0 for d in entry["shape"])
                or not isinstance(entry["data_offsets"], list) or len(entry["data_offsets"]) != 2
                or not all(_is_int(o) for o in entry["data_offsets"])):
            raise ModelFileError(f"{what}: malformed header entry for tensor {name!r}")
        if entry["dtype"] != "F32":
            raise ModelFileError(f"{what}: tensor {name!r} has dtype {entry['dtype']!r}, only float32 (F32) "
                                 f"is allowed")
        begin, end = entry["data_offsets"]
        if end - begin != 4 * math.prod(entry["shape"]):
            raise ModelFileError(f"{what}: tensor {name!r} byte range does not match its shape")
        entries[name] = (tuple(entry["shape"]), begin, end)
    position = 0
    for shape, begin, end in sorted(entries.values(), key=lambda e: e[1:]):
        if begin != position:
            raise ModelFileError(f"{what}: tensor data overlaps or leaves gaps")
        position = end
    if position != len(data) - 8 - n:
        raise ModelFileError(f"{what}: tensor data does not fill the buffer (truncated or padded)")
    return entries


def decode_tensors(data, manifest, what):
    """Check safetensors bytes against a manifest {name: shape} and return {name: float32 array}."""
    entries = read_safetensors_header(data, what)
    if set(entries) != set(manifest):
        missing, extra = sorted(set(manifest) - set(entries)), sorted(set(entries) - set(manifest))
        raise ModelFileError(f"{what}: tensors do not match the manifest (missing {missing}, extra {extra})")
    for name, shape in manifest.items():
        if entries[name][0] != shape:
            raise ModelFileError(f"{what}: tensor {name!r} has shape {entries[name][0]}, manifest says {shape}")
    from safetensors.numpy import load

    try:
        arrays = load(bytes(data))
    except Exception as e:  # the library's own error type is not part of its public API
        raise ModelFileError(f"{what}: unreadable safetensors data: {e}") from None
    for name, shape in manifest.items():
        array = arrays.get(name)
        if array is None or array.dtype != np.float32 or array.shape != shape:
            raise ModelFileError(f"{what}: tensor {name!r} does not decode to float32 {shape}")
    return {name: arrays[name] for name in manifest}


# ---------------------------------------------------------------------------------------------- reading

def _read_member(zf, info):
    """Read one zip member after checking its declared size and compression ratio."""
    limit = MAX_JSON_BYTES if info.filename == JSON_MEMBER else MAX_TENSOR_BYTES + MAX_JSON_BYTES
    if info.file_size > limit:
        raise ModelFileError(f"{info.filename} declares {info.file_size} bytes, more than the limit {limit}")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"{info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"{info.filename} uses an unsupported compression method {info.compress_type}")
    if info.file_size > (1 << 20) and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise ModelFileError(f"{info.filename} has a suspicious compression ratio "
                             f"({info.file_size} bytes from {info.compress_size})")
    try:
        with zf.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as e:
        raise ModelFileError(f"{info.filename} is corrupt: {e}") from None
    if len(data) != info.file_size:
        raise ModelFileError(f"{info.filename} is truncated or corrupt")
    return data


def read_model_file(path):
    """Open a .fnn file and check it as a container (not yet against a model).

    Returns:
        (meta, weights, optimizer_state): the validated model.json as a dict, the model weights as a list
        of float32 arrays (weights/0, weights/1, ...), and the optimizer state as {name: float32 array}.
    """
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise ModelFileError(f"{path} is not a fastnn model file (not a readable zip: {e})") from None
    with zf:
        infos = zf.infolist()
        names = sorted(info.filename for info in infos)
        if names != sorted([JSON_MEMBER, TENSORS_MEMBER]):
            raise ModelFileError(f"{path}: expected exactly the members {JSON_MEMBER!r} and {TENSORS_MEMBER!r}, "
                                 f"found {names[:10]!r}")
        by_name = {info.filename: info for info in infos}
        meta = _parse_json(_read_member(zf, by_name[JSON_MEMBER]), f"{path}: {JSON_MEMBER}")
        try:
            manifest = _check_meta(meta)
        except ModelFileError as e:
            raise ModelFileError(f"{path}: {e}") from None
        tensors = decode_tensors(_read_member(zf, by_name[TENSORS_MEMBER]), manifest, f"{path}: {TENSORS_MEMBER}")
    weights = [a for name, a in tensors.items() if name.startswith("weights/")]
    optimizer_state = {name[len("optimizer/"):]: a for name, a in tensors.items() if name.startswith("optimizer/")}
    return meta, weights, optimizer_state


def read_weights_file(path):
    """The model weights (a list of float32 arrays) of a weights file or of a whole .fnn model file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        is_model_file = f.read(4) == b"PK\x03\x04"
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        if not is_model_file and size > MAX_TENSOR_BYTES + MAX_JSON_BYTES:
            raise ModelFileError(f"{path} is {size} bytes, more than the limit")
        data = None if is_model_file else f.read()
    if is_model_file:
        _, weights, _ = read_model_file(path)
        return weights
    entries = read_safetensors_header(data, path)
    names = [f"weights/{i}" for i in range(len(entries))]
    if set(entries) != set(names):
        raise ModelFileError(f"{path}: expected the tensors weights/0, weights/1, ..., got {sorted(entries)[:10]}")
    arrays = decode_tensors(data, {name: entries[name][0] for name in names}, path)
    return [arrays[name] for name in names]
