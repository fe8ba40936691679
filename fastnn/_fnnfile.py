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
:class:`ModelFileError` (limits: model.json up to 16 MiB and 32 levels deep, tensors up to 2 GiB of rank
up to 8, compression ratio up to 200, at most 64 metrics). The safetensors header is checked against the
manifest before any tensor data is read, and the data is then read in bounded chunks straight into the
arrays the manifest allows, so a file never makes loading hold more than its declared tensors.

Writes are atomic (fastnn._atomicfile): a temporary beside the symlink-resolved target replaces it once
complete, and the next save of a target reclaims temporaries that killed writers left. Keras's .keras
and .h5 names are refused rather than silently written in this format.
"""
import contextlib
import io
import json
import math
import os
import re
import struct
import zipfile
import zlib

import numpy as np

from ._atomicfile import atomic_write

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
MAX_METRICS = 64
MAX_CENTRAL_DIRECTORY_BYTES = 64 << 10  # two members need about 150 bytes; zipfile parses all it is told
READ_CHUNK_BYTES = 1 << 20
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_TENSOR_NAME = re.compile(r"weights/(0|[1-9][0-9]{0,5})|optimizer/[A-Za-z_][A-Za-z0-9_]{0,63}")
_META_KEYS = {"format", "format_version", "fastnn_version", "model", "compile_config", "optimizer_iterations",
              "tensors"}


class ModelFileError(ValueError):
    """A model or weights file is corrupt, truncated, oversized, of another format, or does not fit."""


# ---------------------------------------------------------------------------------------------- writing

def refuse_keras_path(path, weights_only):
    """ValueError for a .keras/.h5 path: fastnn writes .fnn model files and .safetensors weights files."""
    name = os.fsdecode(os.fspath(path))
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _KERAS_SUFFIXES:
        ours = (".safetensors weights files (e.g. 'model.weights.safetensors')" if weights_only
                else ".fnn model files (e.g. 'model.fnn')")
        raise ValueError(f"{name!r}: fastnn does not write Keras {suffix} files; it writes {ours}")


def _encode_tensors(tensors, format_name):
    from safetensors.numpy import save

    arrays = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in tensors.items()}
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

    refuse_keras_path(path, weights_only=False)
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
    refuse_keras_path(path, weights_only=True)
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
    if model["class_name"] != "Sequential":
        raise ModelFileError(f"model.json: unknown model class {model['class_name']!r}")
    if meta["compile_config"] is not None and not isinstance(meta["compile_config"], dict):
        raise ModelFileError("model.json: compile_config must be an object or null")
    iterations = meta["optimizer_iterations"]
    if iterations is not None and not (_is_int(iterations) and 0 <= iterations < 2 ** 62):
        raise ModelFileError(f"model.json: invalid optimizer_iterations {iterations!r}")
    metrics = (meta["compile_config"] or {}).get("metrics")
    if isinstance(metrics, (list, dict)) and len(metrics) > MAX_METRICS:
        raise ModelFileError(f"model.json: compile_config lists {len(metrics)} metrics, more than the limit "
                             f"{MAX_METRICS}")
    return _check_manifest(meta["tensors"])


# ------------------------------------------------------------------------------------------- safetensors

def _check_header_entry(name, entry, data_size, what):
    """(shape, begin, end) of one tensor entry, each value bounded before any arithmetic on it."""
    if (not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}
            or not isinstance(entry["shape"], list) or not isinstance(entry["data_offsets"], list)
            or len(entry["data_offsets"]) != 2):
        raise ModelFileError(f"{what}: malformed header entry for tensor {name!r}")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if len(shape) > MAX_RANK:
        raise ModelFileError(f"{what}: tensor {name!r} has rank {len(shape)}, more than the limit {MAX_RANK}")
    if not all(_is_int(d) for d in shape) or not all(_is_int(o) for o in offsets):
        raise ModelFileError(f"{what}: malformed header entry for tensor {name!r}")
    if not all(0 <= d <= MAX_TENSOR_BYTES for d in shape):
        raise ModelFileError(f"{what}: tensor {name!r} has an invalid shape {shape}")
    if entry["dtype"] != "F32":
        raise ModelFileError(f"{what}: tensor {name!r} has dtype {entry['dtype']!r}, only float32 (F32) "
                             f"is allowed")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise ModelFileError(f"{what}: tensor {name!r} has data_offsets {offsets} outside the "
                             f"{data_size} bytes of data")
    if end - begin != 4 * math.prod(shape):
        raise ModelFileError(f"{what}: tensor {name!r} byte range does not match its shape")
    return tuple(shape), begin, end


def _check_header(header, data_size, what):
    """The tensor entries of a parsed safetensors header, {name: (shape, begin, end)}, tiling data_size bytes.

    Linear in the header's size (plus sorting the entries): ranks are bounded before any shape is multiplied.
    """
    if not isinstance(header, dict):
        raise ModelFileError(f"{what}: header is not a JSON object")
    if len(header) - ("__metadata__" in header) > MAX_TENSORS:
        raise ModelFileError(f"{what}: header lists more than {MAX_TENSORS} tensors")
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise ModelFileError(f"{what}: __metadata__ must map strings to strings")
            continue
        entries[name] = _check_header_entry(name, entry, data_size, what)
    position = 0
    for shape, begin, end in sorted(entries.values(), key=lambda e: e[1:]):
        if begin != position:
            raise ModelFileError(f"{what}: tensor data overlaps or leaves gaps")
        position = end
    if position != data_size:
        raise ModelFileError(f"{what}: tensor data does not fill the buffer (truncated or padded)")
    return entries


def _check_against_manifest(entries, manifest, what):
    if set(entries) != set(manifest):
        missing, extra = sorted(set(manifest) - set(entries)), sorted(set(entries) - set(manifest))
        raise ModelFileError(f"{what}: tensors do not match the manifest (missing {missing[:10]}, "
                             f"extra {extra[:10]})")
    for name, shape in manifest.items():
        if entries[name][0] != shape:
            raise ModelFileError(f"{what}: tensor {name!r} has shape {entries[name][0]}, manifest says {shape}")


def _read_exactly(stream, count, what):
    data = stream.read(count)
    if len(data) != count:
        raise ModelFileError(f"{what} is truncated")
    return data


def _read_into(stream, buffer, what):
    """Fill a writeable uint8 array from stream, READ_CHUNK_BYTES at a time."""
    position = 0
    while position < buffer.size:
        count = stream.readinto(buffer[position:position + READ_CHUNK_BYTES])
        if not count:
            raise ModelFileError(f"{what} is truncated")
        position += count


def read_tensors(stream, size, what, check_entries):
    """Read a safetensors stream of `size` bytes into float32 arrays, {name: array} in data order.

    The header is checked (and passed to check_entries(entries), which raises to refuse it) before any tensor
    data is read; then each tensor is read straight into its own array, so nothing beyond the declared
    tensors is ever held, however the stream was compressed.
    """
    if size < 8:
        raise ModelFileError(f"{what} is truncated ({size} bytes)")
    header_size = int.from_bytes(_read_exactly(stream, 8, what), "little")
    if header_size > min(size - 8, MAX_JSON_BYTES):
        raise ModelFileError(f"{what}: header length {header_size} runs past the end of the data")
    header = _parse_json(_read_exactly(stream, header_size, what), f"{what} header")
    entries = _check_header(header, size - 8 - header_size, what)
    check_entries(entries)
    arrays = {}
    for name, (shape, _, _) in sorted(entries.items(), key=lambda item: item[1][1:]):
        array = np.empty(shape, np.dtype("<f4"))
        _read_into(stream, array.reshape(-1).view(np.uint8), what)
        arrays[name] = array.astype(np.float32, copy=False)
    if stream.read(1):
        raise ModelFileError(f"{what} is longer than its header says")
    return arrays


def decode_tensors(data, manifest, what):
    """Check safetensors bytes against a manifest {name: shape} and return {name: float32 array}."""
    arrays = read_tensors(io.BytesIO(data), len(data), what,
                          lambda entries: _check_against_manifest(entries, manifest, what))
    return {name: arrays[name] for name in manifest}


# ---------------------------------------------------------------------------------------------- reading

_END_RECORD = struct.Struct("<4s4H2LH")  # signature, disks, entries, directory size, offset, comment length
_END_RECORD64 = struct.Struct("<4sQ2H2L4Q")  # signature, size, versions, disks, entries, directory size, offset
_END_LOCATOR64_SIZE = 20


def _declared_directory_size(f):
    """The central directory size a zip's end record declares (its zip64 record's, if it has one), found the
    way zipfile finds it; None where there is no end record (zipfile then refuses the file itself)."""
    end = f.seek(0, os.SEEK_END)
    f.seek(max(0, end - _END_RECORD.size - 0xFFFF))
    tail = f.read()
    at = len(tail) - _END_RECORD.size
    if not (at >= 0 and tail[at:at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _END_RECORD.size:
            return None
    size = _END_RECORD.unpack_from(tail, at)[5]
    locator = at - _END_LOCATOR64_SIZE
    if locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
        at64 = locator - _END_RECORD64.size
        if at64 < 0 or tail[at64:at64 + 4] != b"PK\x06\x06":
            return None
        size = _END_RECORD64.unpack_from(tail, at64)[8]
    return size


def _open_zip(f, path):
    """zipfile.ZipFile(f), once the central directory it would parse is known to be small."""
    size = _declared_directory_size(f)
    if size is not None and size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ModelFileError(f"{path}: the zip's central directory declares {size} bytes, far more than the two "
                             f"members of a model file need (limit {MAX_CENTRAL_DIRECTORY_BYTES})")
    f.seek(0)
    try:
        return zipfile.ZipFile(f, "r")
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise ModelFileError(f"{path} is not a fastnn model file (not a readable zip: {e})") from None

def _check_member_info(info, limit):
    """Refuse a zip member from its directory entry: declared size, encryption, method, compression ratio."""
    if info.file_size > limit:
        raise ModelFileError(f"{info.filename} declares {info.file_size} bytes, more than the limit {limit}")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"{info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"{info.filename} uses an unsupported compression method {info.compress_type}")
    if info.file_size > (1 << 20) and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise ModelFileError(f"{info.filename} has a suspicious compression ratio "
                             f"({info.file_size} bytes from {info.compress_size})")


@contextlib.contextmanager
def _reading_member(info):
    """Turn what a corrupt zip member makes zipfile or zlib raise into ModelFileError."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as e:
        raise ModelFileError(f"{info.filename} is corrupt: {e}") from None


def _read_json_member(zf, info, what):
    _check_member_info(info, MAX_JSON_BYTES)
    with _reading_member(info), zf.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ModelFileError(f"{info.filename} is truncated or corrupt")
    return _parse_json(data, what)


def read_model_file(path):
    """Open a .fnn file and check it as a container (not yet against a model).

    Returns:
        (meta, weights, optimizer_state): the validated model.json as a dict, the model weights as a list
        of float32 arrays (weights/0, weights/1, ...), and the optimizer state as {name: float32 array}.
    """
    path = os.fspath(path)
    with open(path, "rb") as f, _open_zip(f, path) as zf:
        infos = zf.infolist()
        names = sorted(info.filename for info in infos)
        if names != sorted([JSON_MEMBER, TENSORS_MEMBER]):
            raise ModelFileError(f"{path}: expected exactly the members {JSON_MEMBER!r} and {TENSORS_MEMBER!r}, "
                                 f"found {names[:10]!r}")
        by_name = {info.filename: info for info in infos}
        meta = _read_json_member(zf, by_name[JSON_MEMBER], f"{path}: {JSON_MEMBER}")
        try:
            manifest = _check_meta(meta)
        except ModelFileError as e:
            raise ModelFileError(f"{path}: {e}") from None
        info = by_name[TENSORS_MEMBER]
        what = f"{path}: {TENSORS_MEMBER}"
        _check_member_info(info, MAX_TENSOR_BYTES + MAX_JSON_BYTES)
        with _reading_member(info), zf.open(info) as member:
            tensors = read_tensors(member, info.file_size, what,
                                   lambda entries: _check_against_manifest(entries, manifest, what))
    weights = [tensors[name] for name in manifest if name.startswith("weights/")]
    optimizer_state = {name[len("optimizer/"):]: tensors[name] for name in manifest if name.startswith("optimizer/")}
    return meta, weights, optimizer_state


def _check_weight_names(entries, path):
    names = [f"weights/{i}" for i in range(len(entries))]
    if set(entries) != set(names):
        raise ModelFileError(f"{path}: expected the tensors weights/0, weights/1, ..., got {sorted(entries)[:10]}")


def read_weights_file(path):
    """The model weights (a list of float32 arrays) of a weights file or of a whole .fnn model file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        is_model_file = f.read(4) == b"PK\x03\x04"
        size = os.fstat(f.fileno()).st_size
        if not is_model_file:
            if size > MAX_TENSOR_BYTES + MAX_JSON_BYTES:
                raise ModelFileError(f"{path} is {size} bytes, more than the limit")
            f.seek(0)
            arrays = read_tensors(f, size, path, lambda entries: _check_weight_names(entries, path))
            return [arrays[f"weights/{i}"] for i in range(len(arrays))]
    _, weights, _ = read_model_file(path)
    return weights
