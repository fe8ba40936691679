"""The .fnn container: writing it atomically and reading it back with every byte checked.

This module knows the file format and nothing about models; fastnn.saving turns models into what is
written here and back. A model file is one zip archive holding exactly two members:

- ``model.json``: ``{"format": "fastnn.model", "format_version": 1, "fastnn_version": str,
  "model": {"class_name": "Sequential", "config": model.get_config()},
  "compile_config": model.compile_config() or null, "optimizer_iterations": int or null,
  "tensors": [{"name": str, "dtype": "float32", "shape": [int, ...]}, ...]}``, and optionally
  ``"reference_statistics"``: summaries of the training inputs for drift monitoring (fastnn.drift)
- ``weights.safetensors`` (stored uncompressed): the model weights as ``weights/0``, ``weights/1``, ... in
  ``model.get_weights()`` order, then the optimizer state as ``optimizer/<name>`` (``opt.state_arrays()``).

A weights file is a plain safetensors file holding only ``weights/<i>`` (readable by any safetensors tool).

Every member, size, JSON field, tensor name, dtype and shape is checked; anything unexpected raises
:class:`ModelFileError` (limits: model.json up to 16 MiB and 32 levels deep, tensors up to 2 GiB of rank
up to 8, compression ratio up to 200, a central directory up to 64 KiB, at most 64 metrics). JSON and
safetensors bytes go through fastnn._strictread: the safetensors header is checked against the manifest
before any tensor data is read, and the data is then read in bounded chunks straight into the arrays the
manifest allows, so a file never makes loading hold more than its declared tensors.

Writes are atomic (fastnn._atomicfile): a temporary beside the symlink-resolved target replaces it once
complete, and the next save of a target reclaims temporaries that killed writers left. Keras's .keras
and .h5 names are refused rather than silently written in this format.
"""
import contextlib
import json
import math
import os
import re
import struct
import zipfile
import zlib

import numpy as np

from ._atomicfile import atomic_write
from ._strictread import (MAX_JSON_BYTES, MAX_RANK, MAX_TENSOR_BYTES, MAX_TENSORS, ModelFileError,
                          check_against_manifest, is_int, parse_json, read_tensors)

FORMAT_NAME = "fastnn.model"
WEIGHTS_FORMAT_NAME = "fastnn.weights"
FORMAT_VERSION = 1
JSON_MEMBER = "model.json"
TENSORS_MEMBER = "weights.safetensors"
MAX_COMPRESSION_RATIO = 200
MAX_METRICS = 64
MAX_CENTRAL_DIRECTORY_BYTES = 64 << 10  # two members need about 150 bytes; zipfile parses all it is told
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_TENSOR_NAME = re.compile(r"weights/(0|[1-9][0-9]{0,5})|optimizer/[A-Za-z_][A-Za-z0-9_]{0,63}")
_META_KEYS = {"format", "format_version", "fastnn_version", "model", "compile_config", "optimizer_iterations",
              "tensors"}
_OPTIONAL_META_KEYS = {"reference_statistics"}


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

    arrays = {name: np.array(a, dtype=np.float32, order="C", copy=None) for name, a in tensors.items()}  # 0-d stays 0-d
    return save(arrays, metadata={"format": format_name, "format_version": str(FORMAT_VERSION)})


def _named_tensors(weights, optimizer_state):
    tensors = {f"weights/{i}": w for i, w in enumerate(weights)}
    tensors.update((f"optimizer/{name}", a) for name, a in optimizer_state.items())
    return tensors


def write_model_file(path, model, compile_config, optimizer_iterations, weights, optimizer_state,
                     reference_statistics=None):
    """Write a .fnn file atomically.

    Args:
        path: destination; replaced atomically if it exists.
        model: ``{"class_name", "config"}`` of the model.
        compile_config: the model's compile_config(), or None if it is not compiled.
        optimizer_iterations: the optimizer's step count, or None if not compiled.
        weights: the model's weights in get_weights() order.
        optimizer_state: {name: array}, the optimizer's state_arrays() (empty if not compiled).
        reference_statistics: ReferenceStatistics.to_dict() of the training inputs, or None.
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
    if reference_statistics is not None:
        meta["reference_statistics"] = reference_statistics
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
                or not all(is_int(d) and 0 <= d <= MAX_TENSOR_BYTES for d in shape)):
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
    if not is_int(version) or version < 1:
        raise ModelFileError(f"model.json: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"model.json: format_version {version} is newer than this fastnn reads "
                             f"({FORMAT_VERSION}); upgrade fastnn")
    if not _META_KEYS <= set(meta) <= _META_KEYS | _OPTIONAL_META_KEYS:
        raise ModelFileError(f"model.json: expected the keys {sorted(_META_KEYS)} (and optionally "
                             f"{sorted(_OPTIONAL_META_KEYS)}), got {sorted(meta)}")
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
    if iterations is not None and not (is_int(iterations) and 0 <= iterations < 2 ** 62):
        raise ModelFileError(f"model.json: invalid optimizer_iterations {iterations!r}")
    for key in ("metrics", "weighted_metrics"):
        metrics = (meta["compile_config"] or {}).get(key)
        if isinstance(metrics, (list, dict)) and len(metrics) > MAX_METRICS:
            raise ModelFileError(f"model.json: compile_config lists {len(metrics)} {key}, more than the limit "
                                 f"{MAX_METRICS}")
    return _check_manifest(meta["tensors"])


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
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
            UnicodeDecodeError) as e:  # the last: a local header flagged UTF-8 whose name does not decode
        raise ModelFileError(f"{info.filename} is corrupt: {e}") from None


def _read_json_member(zf, info, what):
    _check_member_info(info, MAX_JSON_BYTES)
    with _reading_member(info), zf.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ModelFileError(f"{info.filename} is truncated or corrupt")
    return parse_json(data, what)


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
                                   lambda entries: check_against_manifest(entries, manifest, what))
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
