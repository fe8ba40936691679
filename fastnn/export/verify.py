"""Verification: ONNX Runtime runs the exported model on sample inputs at two batch sizes, and every
output must equal fastnn's predict within the tolerance (integer and string outputs exactly)."""
import numpy as np

from .graph import output_names
from .registry import sampler_for

__all__ = ["VerificationError", "verify_onnx", "sample_inputs", "TOLERANCE", "BATCH_SIZES"]

# |onnx - fastnn| <= TOLERANCE * max(1, |fastnn|): absolute for values up to 1, relative beyond.
TOLERANCE = 1e-5
BATCH_SIZES = (1, 5)
SEQUENCE_LENGTH = 6  # the size sampled for an unknown non-batch dimension


class VerificationError(AssertionError):
    """ONNX Runtime's outputs differ from fastnn's; the message names the output, the batch size and
    the largest difference."""


def _readers(model, tensor):
    """The layers that read `tensor` directly (looking into nested models)."""
    found = []
    for node in model._graph_nodes():
        for position, t in enumerate(node.inputs):
            if t is tensor:
                layer = node.layer
                found.extend(_readers(layer, layer._input_tensors[position]) if getattr(layer, "_is_model", False)
                             else [layer])
    return found


def sample_inputs(model, batch_size, seed=0):
    """One array per model input: standard normal floats, or what the first reader that registered a
    sampler draws (token ids below its vocabulary size, padded sequences); integer inputs otherwise
    take ids in [0, 10)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model._input_tensors:
        shape = (batch_size,) + tuple(SEQUENCE_LENGTH if d is None else d for d in tensor.shape[1:])
        sampler = next((s for s in map(sampler_for, _readers(model, tensor)) if s is not None), None)
        if sampler is not None:
            layer = next(l for l in _readers(model, tensor) if sampler_for(l) is sampler)
            arrays.append(sampler(layer, shape, tensor.dtype, rng))
        elif tensor.dtype == "int64":
            arrays.append(rng.integers(0, 10, shape, dtype=np.int64))
        elif tensor.dtype == "string":
            arrays.append(np.array([f"token{i}" for i in rng.integers(0, 10, np.prod(shape))], dtype=object)
                          .reshape(shape))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def _session(onnx_bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        from onnxruntime_extensions import get_library_path
    except ImportError:
        pass
    else:
        options.register_custom_ops_library(get_library_path())
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def _difference(name, got, expected, batch_size):
    """The largest |got - expected| (0 for exact kinds); VerificationError when outside the tolerance."""
    where = f"output '{name}' at batch size {batch_size}"
    if got.shape != expected.shape:
        raise VerificationError(f"ONNX Runtime gives {where} the shape {got.shape}, fastnn {expected.shape}")
    if expected.dtype.kind in "iubOUS":
        wrong = np.flatnonzero(got.reshape(-1) != expected.reshape(-1))
        if wrong.size:
            raise VerificationError(f"ONNX Runtime's {where} differs from fastnn's in {wrong.size} of {got.size} values "
                                    f"(first at flat index {wrong[0]}: {got.reshape(-1)[wrong[0]]!r} vs "
                                    f"{expected.reshape(-1)[wrong[0]]!r})")
        return 0.0
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    if not np.array_equal(np.isnan(got), np.isnan(expected)):
        raise VerificationError(f"ONNX Runtime's {where} has NaN where fastnn's has none, or the reverse")
    both = ~np.isnan(expected)
    diff = np.abs(got[both] - expected[both])
    largest = float(diff.max()) if diff.size else 0.0
    excess = diff / np.maximum(1.0, np.abs(expected[both])) if diff.size else diff
    if excess.size and excess.max() > TOLERANCE:
        at = int(np.argmax(excess))
        raise VerificationError(f"ONNX Runtime's {where} differs from fastnn's by up to {largest:.3g} (value "
                                f"{got[both][at]:.9g} vs {expected[both][at]:.9g}); the tolerance is {TOLERANCE} "
                                f"(relative beyond magnitude 1)")
    return largest


_ORT_INTEGER_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _in_graph_integer_types(session, feed):
    """Integer samples in the integer type the graph declares: predict takes ids of any integer type
    (pad_sequences gives int32), ONNX Runtime only the declared one."""
    declared = {arg.name: _ORT_INTEGER_TYPES.get(arg.type) for arg in session.get_inputs()}
    return {name: x.astype(declared[name]) if declared.get(name) and np.issubdtype(x.dtype, np.integer) else x
            for name, x in feed.items()}


def verify_onnx(model, onnx_model, inputs=None):
    """Run an exported model in ONNX Runtime and compare it with model.predict.

    Args:
        model: the fastnn model that was exported.
        onnx_model: the ONNX model (a ModelProto or its serialized bytes).
        inputs: optional sample inputs (one array per model input, at least 2 rows); the first row
            and all rows are the two batches. By default sample_inputs() at BATCH_SIZES.

    Returns:
        {output name in the ONNX graph: the largest absolute difference seen} over both batch sizes.

    Raises:
        VerificationError: an output differs beyond TOLERANCE (or in shape, NaN placement, or any
            integer or string value); the message names the output, the batch size and the difference.
    """
    onnx_bytes = onnx_model if isinstance(onnx_model, bytes) else onnx_model.SerializeToString()
    session = _session(onnx_bytes)
    if inputs is None:
        batches = [sample_inputs(model, n, seed=n) for n in BATCH_SIZES]
    else:
        inputs = [np.asarray(x) for x in inputs]
        batches = [[x[:1] for x in inputs], inputs]
    report = {}
    names = output_names(model)
    for batch in batches:
        size = len(batch[0])
        expected = model.predict(batch if len(batch) > 1 else batch[0], verbose=0)
        expected = expected if isinstance(expected, list) else (list(expected.values()) if isinstance(expected, dict)
                                                                else [expected])
        feed = _in_graph_integer_types(session, dict(zip(model.input_names, batch)))
        got = session.run(names, feed)
        for name, g_out, e_out in zip(names, got, expected):
            report[name] = max(report.get(name, 0.0), _difference(name, np.asarray(g_out), np.asarray(e_out), size))
    return report
