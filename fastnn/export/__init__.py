"""Export to ONNX: `model.export(path, format="onnx")` writes the model as an ONNX graph, checked by
onnx's checker and verified in ONNX Runtime against fastnn's own predictions before the file appears.

Needs the optional extra `fastnn[onnx]` (onnx, and onnxruntime for verification). Each layer class has
one converter in the module of its family (core, merging, preprocessing, ...), registered with
`@converts`; see registry.py.
"""
from .builder import check_model
from .graph import model_to_onnx
from .registry import ExportError, converts, samples
from .verify import VerificationError, sample_inputs, verify_onnx
from . import (activations, convolutional, core, merging, normalization, preprocessing, quantized,  # noqa: F401
               recurrent, reshaping, text)  # (imported to register the converters)

__all__ = ["export_model", "model_to_onnx", "verify_onnx", "sample_inputs", "ExportError", "VerificationError",
           "converts", "samples", "FORMATS", "DEFAULT_OPSET"]

FORMATS = ("onnx",)
DEFAULT_OPSET = 21
# protobuf's limit on one serialized message; bigger models would need ONNX's external-data form
_MAX_BYTES = 2 ** 31 - 1


def export_model(model, filepath, format="onnx", opset=DEFAULT_OPSET, verify=True, sample_inputs=None):
    """Write `model` to `filepath` as ONNX (see Model.export).

    Returns:
        With verify, {output name: largest absolute difference from fastnn in ONNX Runtime}; else None.
    """
    if format not in FORMATS:
        raise ValueError(f"export: format must be one of {', '.join(FORMATS)}, got {format!r}")
    from ..optimize import for_inference

    proto = model_to_onnx(for_inference(model), opset)
    size = proto.ByteSize()
    if size > _MAX_BYTES:
        raise ExportError(f"{type(model).__name__} '{model.name}' is {size} bytes as ONNX, beyond protobuf's "
                          f"2 GiB limit for one file")
    check_model(proto)
    data = proto.SerializeToString()
    report = verify_onnx(model, data, sample_inputs) if verify else None
    from .._atomicfile import atomic_write

    atomic_write(filepath, lambda f: f.write(data))
    return report
