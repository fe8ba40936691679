"""Strict readers for untrusted bytes: JSON and safetensors, every value bounded before it is used.

parse_json refuses what Python's json would accept but a model file must not hold (NaN, repeated keys,
deep nesting). read_tensors reads a safetensors stream: its header is checked in time linear in its size
(ranks are bounded before any shape is multiplied) and handed to the caller to refuse, before any tensor
data is read; the data then goes in READ_CHUNK_BYTES pieces straight into one array per tensor.
"""
import io
import json
import math

import numpy as np

__all__ = ["ModelFileError", "parse_json", "is_int", "read_tensors", "decode_tensors", "check_against_manifest"]

MAX_JSON_BYTES = 16 << 20
MAX_JSON_DEPTH = 32
MAX_TENSOR_BYTES = 2 << 30
MAX_TENSORS = 100_000
MAX_RANK = 8
READ_CHUNK_BYTES = 1 << 20


class ModelFileError(ValueError):
    """A model or weights file is corrupt, truncated, oversized, of another format, or does not fit."""


# ------------------------------------------------------------------------------------------------ JSON

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


def parse_json(data, what):
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


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


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
    if not all(is_int(d) for d in shape) or not all(is_int(o) for o in offsets):
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


def check_against_manifest(entries, manifest, what):
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
    header = parse_json(_read_exactly(stream, header_size, what), f"{what} header")
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
                          lambda entries: check_against_manifest(entries, manifest, what))
    return {name: arrays[name] for name in manifest}
