"""String (BYTES) tensors of requests: the V2 JSON form, the binary tensor extension, TF Serving's lists.

A model whose input is ``fastnn.Input(..., dtype="string")`` (raw text into TextVectorization) takes V2
``BYTES`` tensors. In JSON their data is a (nested) list of strings; in the binary extension each element is a
4-byte little-endian length followed by that many bytes, as tritonclient serialises them. Every element must
be UTF-8 text. The result is a NumPy object array of ``str``, which the preprocessing layers read.

Sizes are bounded so that no request can make the server allocate much more than it sent: an element is at
most MAX_STRING_CHARS characters, and the NumPy unicode array the text layers make of a request
(elements x longest element x 4 bytes) is at most MAX_UNICODE_BYTES.
"""
import math
import struct

import numpy as np

__all__ = ["strings_from_json", "strings_from_binary", "nested_strings", "string_array", "MAX_STRING_CHARS", "MAX_UNICODE_BYTES"]

MAX_STRING_CHARS = 1 << 16
MAX_UNICODE_BYTES = 64 << 20
_LENGTH = struct.Struct("<I")


def string_array(values, shape, what, bad_request):
    """The object array of `values` (a flat list of str) in `shape`, within the size limits."""
    longest = max((len(v) for v in values), default=0)
    if longest > MAX_STRING_CHARS:
        raise bad_request(f"{what}: a string of {longest} characters is longer than the limit of "
                          f"{MAX_STRING_CHARS}")
    if len(values) * max(longest, 1) * 4 > MAX_UNICODE_BYTES:
        raise bad_request(f"{what}: {len(values)} strings of up to {longest} characters exceed the limit of "
                          f"{MAX_UNICODE_BYTES} bytes of text a request")
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def _utf8_text(value, what, bad_request):
    """value (a str from JSON) when it is encodable as UTF-8 (JSON allows lone surrogates, UTF-8 does not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(f"{what}: a string is not valid UTF-8 text (it holds a lone surrogate)") from None
    return value


def nested_strings(value, what, bad_request):
    """(shape, flat list) of a regular nested list of strings; bad_request otherwise.

    The shape comes from the first elements at each depth; every list is then checked against it, so a
    ragged or mixed list is refused without building any array of it.
    """
    shape, probe = [], value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    level = [value]
    for depth, size in enumerate(shape):
        if not all(isinstance(item, list) and len(item) == size for item in level):
            raise bad_request(f"{what}: data must be a regular (nested) list of strings; the lists at depth "
                              f"{depth} differ in length or kind")
        level = [element for item in level for element in item]
    if not all(isinstance(item, str) for item in level):
        raise bad_request(f"{what}: data must hold strings for datatype BYTES")
    return tuple(shape), [_utf8_text(item, what, bad_request) for item in level]


def strings_from_json(data, shape, what, bad_request):
    """The object array of shape `shape` from V2 JSON data (a flat or nested list of strings)."""
    _, values = nested_strings(data, what, bad_request)
    if len(values) != math.prod(shape):
        raise bad_request(f"{what}: {len(values)} strings do not fill the shape {list(shape)}")
    return string_array(values, shape, what, bad_request)


def strings_from_binary(blob, shape, what, bad_request):
    """The object array of shape `shape` from the binary extension's bytes (length-prefixed elements)."""
    count, values, at = math.prod(shape), [], 0
    if count * _LENGTH.size > len(blob):
        raise bad_request(f"{what}: {len(blob)} bytes cannot hold {count} length-prefixed strings")
    for _ in range(count):
        if at + _LENGTH.size > len(blob):
            raise bad_request(f"{what}: the binary data ends inside the length of string {len(values)}")
        (size,) = _LENGTH.unpack_from(blob, at)
        at += _LENGTH.size
        if at + size > len(blob):
            raise bad_request(f"{what}: string {len(values)} of {size} bytes runs past the binary data")
        try:
            values.append(bytes(blob[at:at + size]).decode("utf-8"))
        except UnicodeDecodeError:
            raise bad_request(f"{what}: string {len(values)} is not valid UTF-8") from None
        at += size
    if at != len(blob):
        raise bad_request(f"{what}: binary_data_size holds {len(blob) - at} bytes after the {count} strings")
    return string_array(values, shape, what, bad_request)
