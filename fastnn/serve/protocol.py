"""Request bodies in, response bodies out: the Open Inference Protocol (KServe V2) and TF Serving's predict.

Everything here is a pure function of bytes and the model's signature; anything a client got wrong raises
:class:`BadRequest`, which the server answers with 400 and ``{"error": message}``.

V2 inference requests come as JSON (``{"inputs": [{"name", "shape", "datatype", "data"}], "outputs": [...]}``)
or with the binary tensor extension: the header ``Inference-Header-Content-Length`` gives the length of the
JSON part, and each input with ``parameters.binary_data_size`` takes that many bytes, in input order, of
what follows it (little-endian, row-major). String inputs are BYTES tensors (fastnn.serve.strings). Outputs are binary when the request asks for it
(``parameters.binary_data_output``, or ``parameters.binary_data`` per requested output), as tritonclient
does by default.
"""
import json
import math

import numpy as np

from .strings import nested_strings, string_array, strings_from_binary, strings_from_json

__all__ = ["BadRequest", "Signature", "Tensor", "parse_v2_infer", "encode_v2_response", "parse_tf_predict",
           "encode_tf_response", "error_body"]

# The V2 datatypes of the model dtypes we serve, and the little-endian NumPy types of the numeric ones.
DATATYPES = {"float32": "FP32", "int64": "INT64", "string": "BYTES"}
NUMPY_TYPES = {"FP32": np.dtype("<f4"), "INT64": np.dtype("<i8")}
_JSON_KINDS = {"FP32": "iuf", "INT64": "iu"}
MAX_TENSORS = 64
# Parsing JSON holds the GIL (a large body is parsed on a worker thread, but the event loop still
# shares the GIL with it): ~4 MB of numbers parse in about a second here. Larger tensors travel
# faster, with far less of the GIL, in the binary tensor extension.
MAX_JSON_BYTES = 8 << 20


class BadRequest(ValueError):
    """A request the client got wrong (answered with 400 unless a status is given)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Tensor:
    """A named model input or output: its V2 datatype and its shape, -1 for the batch and any free axis."""
    __slots__ = ("name", "datatype", "shape")

    def __init__(self, name, datatype, shape):
        self.name, self.datatype, self.shape = name, datatype, shape

    def metadata(self):
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


class Signature:
    """The inputs and outputs of a served model.

    Args:
        model: a built fastnn model with float32, int64 or string inputs and float32 or int64 outputs.
    """

    def __init__(self, model):
        def tensors(names, symbolic, what, dtypes):
            out = []
            for name, t in zip(names, symbolic):
                if t.dtype not in dtypes:
                    raise ValueError(f"serve: model {what} {name!r} is of dtype {t.dtype}; only "
                                     f"{' and '.join(dtypes)} {what}s can be served")
                out.append(Tensor(name, DATATYPES[t.dtype], tuple(-1 if d is None else d for d in t.shape)))
            return out

        self.inputs = tensors(model.input_names, model.inputs, "input", ("float32", "int64", "string"))
        self.outputs = tensors(model.output_names, model.outputs, "output", ("float32", "int64"))
        self.input_index = {t.name: i for i, t in enumerate(self.inputs)}
        self.output_index = {t.name: i for i, t in enumerate(self.outputs)}


def error_body(message):
    return json.dumps({"error": str(message)}).encode("utf-8")


def _reject_constant(name):
    raise BadRequest(f"malformed JSON: the non-standard constant {name}")


def _loads(data):
    """Strict JSON from request bytes: UTF-8, no NaN or Infinity literals, no repeated keys, at most
    MAX_JSON_BYTES; BadRequest otherwise."""
    if len(data) > MAX_JSON_BYTES:
        raise BadRequest(f"the request's JSON is {len(data)} bytes, over the limit of {MAX_JSON_BYTES} bytes; "
                         "send large tensors in the binary tensor extension", 413)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except BadRequest:
        raise
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"malformed JSON: {e}") from None


def _unique_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        raise BadRequest(f"a JSON object repeats a key: {sorted(k for k in result if [p[0] for p in pairs].count(k) > 1)[:5]}")
    return result


def _object(value, what):
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shape(tensor, shape, what):
    """Refuse a shape that is not the input's, with any batch size of at least 1."""
    expected = tensor.shape
    if (not isinstance(shape, list) or len(shape) != len(expected)
            or not all(_is_int(d) and 0 <= d < 2 ** 31 for d in shape)):
        raise BadRequest(f"{what}: expected a shape of {len(expected)} dimensions like {list(expected)}, "
                         f"got {shape!r}")
    if shape[0] < 1 or any(e != -1 and d != e for d, e in zip(shape[1:], expected[1:])):
        raise BadRequest(f"{what}: shape {shape} does not fit the model's {list(expected)} (-1: any size >= 1)")
    return tuple(shape)


def _holds_bool(data, values):
    """Whether JSON true/false sits among the numbers of data: numpy reads [true, 1, 2] as integers."""
    if values.ndim == 0:
        return isinstance(data, bool)
    return bool in set(map(type, np.asarray(data, dtype=object).ravel().tolist()))


def json_array(data, datatype, shape, what):
    """The array of JSON numbers `data` (nested or flat, row-major), of the given datatype and shape."""
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadRequest(f"{what}: data must be a (nested) list of numbers") from None
    if values.dtype.kind not in _JSON_KINDS[datatype] or values.dtype.kind in "iuf" and _holds_bool(data, values):
        raise BadRequest(f"{what}: data must hold {'integers' if datatype == 'INT64' else 'numbers'} for "
                         f"datatype {datatype}")
    if values.size != math.prod(shape):
        raise BadRequest(f"{what}: {values.size} values do not fill the shape {list(shape)}")
    try:
        with np.errstate(all="ignore"):  # a float beyond FP32's range becomes inf, refused by the caller
            return values.astype(NUMPY_TYPES[datatype]).reshape(shape)
    except OverflowError:
        raise BadRequest(f"{what}: a value is out of range for {datatype}") from None


def _check_finite(array, what):
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BadRequest(f"{what}: holds NaN or infinity, which the model does not accept")


class _BinaryReader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, size, what):
        if self.at + size > len(self.data):
            raise BadRequest(f"{what}: binary_data_size {size} runs past the end of the request body")
        piece = self.data[self.at:self.at + size]
        self.at += size
        return piece


def _v2_input(entry, signature, binary, what):
    entry = _object(entry, what)
    name = entry.get("name")
    if not isinstance(name, str) or name not in signature.input_index:
        raise BadRequest(f"{what}: unknown input name {name!r}; the model's inputs are "
                         f"{[t.name for t in signature.inputs]}")
    tensor = signature.inputs[signature.input_index[name]]
    what = f"input {name!r}"
    if entry.get("datatype") != tensor.datatype:
        raise BadRequest(f"{what}: expected datatype {tensor.datatype}, got {entry.get('datatype')!r}")
    shape = _check_shape(tensor, entry.get("shape"), what)
    parameters = _object(entry.get("parameters", {}), f"{what}: parameters")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in entry:
            raise BadRequest(f"{what}: has neither data nor parameters.binary_data_size")
        if tensor.datatype == "BYTES":
            return name, strings_from_json(entry["data"], shape, what, BadRequest)
        array = json_array(entry["data"], tensor.datatype, shape, what)
    elif tensor.datatype == "BYTES":
        if not _is_int(size) or size < 0:
            raise BadRequest(f"{what}: binary_data_size must be a byte count, got {size!r}")
        if "data" in entry:
            raise BadRequest(f"{what}: has both data and parameters.binary_data_size")
        return name, strings_from_binary(binary.take(size, what), shape, what, BadRequest)
    else:
        itemsize = NUMPY_TYPES[tensor.datatype].itemsize
        if not _is_int(size) or size != math.prod(shape) * itemsize:
            raise BadRequest(f"{what}: binary_data_size must be {math.prod(shape) * itemsize} bytes for shape "
                             f"{list(shape)} of {tensor.datatype}, got {size!r}")
        if "data" in entry:
            raise BadRequest(f"{what}: has both data and parameters.binary_data_size")
        array = np.frombuffer(binary.take(size, what), NUMPY_TYPES[tensor.datatype]).reshape(shape)
    _check_finite(array, what)
    return name, array


def _requested_outputs(request, signature):
    """[(output index, binary?)] the request asks for: all outputs unless it names some."""
    parameters = _object(request.get("parameters", {}), "parameters")
    default_binary = parameters.get("binary_data_output", False) is True
    outputs = request.get("outputs")
    if outputs is None:
        return [(i, default_binary) for i in range(len(signature.outputs))]
    if not isinstance(outputs, list) or not 0 < len(outputs) <= MAX_TENSORS:
        raise BadRequest(f"outputs must be a list of 1 to {MAX_TENSORS} objects")
    chosen = []
    for i, entry in enumerate(outputs):
        name = _object(entry, f"outputs[{i}]").get("name")
        if not isinstance(name, str) or name not in signature.output_index:
            raise BadRequest(f"outputs[{i}]: unknown output name {name!r}; the model's outputs are "
                             f"{[t.name for t in signature.outputs]}")
        binary = _object(entry.get("parameters", {}), f"outputs[{i}].parameters").get("binary_data", default_binary)
        chosen.append((signature.output_index[name], binary is True))
    return chosen


def parse_v2_infer(body, header_length, signature):
    """Parse a V2 inference request.

    Args:
        body: the request body (bytes).
        header_length: the Inference-Header-Content-Length header as sent (str), or None.
        signature: the model's Signature.

    Returns:
        (inputs, outputs, request_id): one array per model input in model order, [(output index,
        binary?)], and the request's id (None if it has none).
    """
    if header_length is None:
        json_part, binary = body, _BinaryReader(b"")
    else:
        if not (header_length.isascii() and header_length.isdigit()) or not 0 < int(header_length) <= len(body):
            raise BadRequest(f"Inference-Header-Content-Length must be an integer from 1 to the body's "
                             f"{len(body)} bytes, got {header_length!r}")
        json_part, binary = body[:int(header_length)], _BinaryReader(body[int(header_length):])
    request = _object(_loads(json_part), "the request")
    entries = request.get("inputs")
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_TENSORS:
        raise BadRequest(f"inputs must be a list of 1 to {MAX_TENSORS} input objects")
    arrays = dict(_v2_input(entry, signature, binary, f"inputs[{i}]") for i, entry in enumerate(entries))
    if len(arrays) != len(entries) or len(arrays) != len(signature.inputs):
        raise BadRequest(f"inputs must name each of the model's inputs {[t.name for t in signature.inputs]} once")
    if binary.at != len(binary.data):
        raise BadRequest(f"the body has {len(binary.data) - binary.at} bytes after the binary tensors")
    inputs = [arrays[t.name] for t in signature.inputs]
    if len({len(a) for a in inputs}) != 1:
        raise BadRequest(f"inputs have different batch sizes: {[len(a) for a in inputs]}")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("id must be a string")
    return inputs, _requested_outputs(request, signature), request_id


def encode_v2_response(model_name, signature, outputs, requested, request_id):
    """(body bytes, JSON header length or None) of the V2 response carrying `outputs` (arrays in model order)."""
    entries, blobs = [], []
    for index, binary in requested:
        tensor, array = signature.outputs[index], outputs[index]
        entry = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(array.shape)}
        if binary:
            blob = np.ascontiguousarray(array, NUMPY_TYPES[tensor.datatype]).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.ravel().tolist()
        entries.append(entry)
    response = {"model_name": model_name, "model_version": "1", "outputs": entries}
    if request_id is not None:
        response["id"] = request_id
    header = json.dumps(response, separators=(",", ":")).encode("utf-8")
    if not blobs:
        return header, None
    return b"".join([header] + blobs), len(header)


# ------------------------------------------------------------------------------------------ TF Serving

def _tf_strings(value, tensor, what):
    """A batch-first object array of strings; a list of plain strings also fits an input of shape (-1, 1)."""
    shape, values = nested_strings(value, what, BadRequest)
    if len(shape) == 1 and len(tensor.shape) == 2 and tensor.shape[1] in (1, -1):
        shape += (1,)
    return string_array(values, _check_shape(tensor, list(shape), what), what, BadRequest)


def _tf_column(value, tensor, what):
    """A batch-first array for one input from TF Serving's JSON (a nested list of numbers, or of strings)."""
    if tensor.datatype == "BYTES":
        return _tf_strings(value, tensor, what)
    try:
        shape = np.shape(value)
    except (ValueError, TypeError, RecursionError):
        raise BadRequest(f"{what}: must be a nested list of numbers with a regular shape") from None
    array = json_array(value, tensor.datatype, shape, what)
    _check_shape(tensor, list(array.shape), what)
    _check_finite(array, what)
    return array


def parse_tf_predict(body, signature):
    """Parse TF Serving's predict request: ``{"instances": [row, ...]}`` (rows; a row is a {name: value}
    object for several inputs) or ``{"inputs": tensor or {name: tensor}}`` (columns).

    Returns:
        (inputs, row_format): one array per model input, and True for the instances (row) form.
    """
    request = _object(_loads(body), "the request")
    keys = {"instances", "inputs"} & set(request)
    if len(keys) != 1:
        raise BadRequest("the request must hold exactly one of 'instances' (rows) or 'inputs' (columns)")
    key = keys.pop()
    value, names = request[key], [t.name for t in signature.inputs]
    if key == "instances":
        if not isinstance(value, list) or not value:
            raise BadRequest("instances must be a non-empty list of rows")
        if isinstance(value[0], dict):
            if not all(isinstance(row, dict) and set(row) == set(names) for row in value):
                raise BadRequest(f"every instance must be an object naming exactly the inputs {names}")
            columns = {name: [row[name] for row in value] for name in names}
        elif len(names) == 1:
            columns = {names[0]: value}
        else:
            raise BadRequest(f"the model has several inputs {names}: each instance must be an object of them")
    elif isinstance(value, dict):
        if set(value) != set(names):
            raise BadRequest(f"inputs must name exactly the model's inputs {names}")
        columns = value
    elif len(names) == 1:
        columns = {names[0]: value}
    else:
        raise BadRequest(f"the model has several inputs {names}: inputs must be an object of them")
    inputs = [_tf_column(columns[t.name], t, f"input {t.name!r}") for t in signature.inputs]
    if len({len(a) for a in inputs}) != 1:
        raise BadRequest(f"inputs have different batch sizes: {[len(a) for a in inputs]}")
    return inputs, key == "instances"


def encode_tf_response(signature, outputs, row_format):
    names = [t.name for t in signature.outputs]
    if row_format:
        if len(names) == 1:
            result = {"predictions": outputs[0].tolist()}
        else:
            columns = [o.tolist() for o in outputs]
            result = {"predictions": [dict(zip(names, row)) for row in zip(*columns)]}
    elif len(names) == 1:
        result = {"outputs": outputs[0].tolist()}
    else:
        result = {"outputs": {name: o.tolist() for name, o in zip(names, outputs)}}
    return json.dumps(result, separators=(",", ":")).encode("utf-8")
