"""model.export(format="onnx") of int8 models (fastnn.optimize.quantize_dynamic's): QuantizedDense and the
quantized convolutions as fastnn's per-row arithmetic with MatMulInteger, verified in ONNX Runtime within
the exporter's usual float tolerance; the int8 LSTM and GRU refused with a clear error."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastnn  # noqa: E402
from fastnn import layers as L  # noqa: E402
from fastnn.export import ExportError  # noqa: E402
from fastnn.optimize import quantize_dynamic  # noqa: E402

from test_export_onnx import exported, sequential  # noqa: E402


def op_types(tmp_path):
    return [node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node]


@pytest.mark.parametrize("reduce_range", [False, True])
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "softmax", "gelu"])
def test_quantized_dense(activation, reduce_range, tmp_path):
    fastnn.set_seed(0)
    model = sequential((7,), L.Dense(5, activation="relu"), L.Dense(3, activation=activation, use_bias=False))
    exported(quantize_dynamic(model, reduce_range=reduce_range), tmp_path)
    assert op_types(tmp_path).count("MatMulInteger") == 2 and "MatMul" not in op_types(tmp_path)


def test_kernel_goes_in_as_uint8_with_zero_point_128(tmp_path):
    """ONNX Runtime's uint8 x int8 MatMulInteger saturates pairs of products to int16 on CPUs without
    AVX-512 VNNI; the uint8 x uint8 one is exact. So the int8 kernel is exported shifted by 128, with
    128 as its zero point, and rows of 255 against a kernel of 127 (where the pairs would saturate) come
    out exact."""
    fastnn.set_seed(0)
    model = quantize_dynamic(sequential((64,), L.Dense(3, use_bias=False, kernel_initializer="ones")))
    x = np.abs(np.random.default_rng(0).standard_normal((4, 64))).astype(np.float32) + 1
    exported(model, tmp_path, sample_inputs=[x])
    graph = onnx.load(tmp_path / "model.onnx").graph
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    (node,) = [n for n in graph.node if n.op_type == "MatMulInteger"]
    kernel, zero_point = constants[node.input[1]], constants[node.input[3]]
    assert kernel.dtype == np.uint8 and zero_point == 128
    np.testing.assert_array_equal(kernel, np.full((64, 3), 255))  # the int8 kernel is 127 everywhere


def test_quantized_dense_on_sequences_and_zero_rows(tmp_path):
    """A Dense over (batch, steps, features), rows of zeros (scale 1) and rows of one sign."""
    fastnn.set_seed(0)
    model = quantize_dynamic(sequential((4, 6), L.Dense(5)))
    x = np.random.default_rng(0).standard_normal((3, 4, 6)).astype(np.float32)
    x[0, 1] = 0
    x[1, 2] = np.abs(x[1, 2]) + 1
    x[2, 3] = -np.abs(x[2, 3]) - 1
    exported(model, tmp_path, sample_inputs=[x])


@pytest.mark.parametrize("strides,padding,dilation", [(1, "valid", 1), (2, "same", 1), (1, "same", 2)])
def test_quantized_conv2d(strides, padding, dilation, tmp_path):
    fastnn.set_seed(0)
    model = sequential((9, 8, 3), L.Conv2D(4, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                                           activation="relu"), L.Conv2D(5, 1))
    exported(quantize_dynamic(model), tmp_path)
    assert op_types(tmp_path).count("MatMulInteger") == 2


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_quantized_conv1d(padding, tmp_path):
    fastnn.set_seed(0)
    exported(quantize_dynamic(sequential((11, 4), L.Conv1D(6, 3, padding=padding, dilation_rate=2))), tmp_path)


def test_quantized_cnn(tmp_path):
    """A whole CNN: int8 convolutions and dense head around float pooling and a depthwise stage."""
    fastnn.set_seed(0)
    model = sequential((16, 16, 1), L.Conv2D(8, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                       L.DepthwiseConv2D(3), L.Conv2D(12, 3, activation="relu"), L.Flatten(), L.Dense(10, activation="softmax"))
    exported(quantize_dynamic(model), tmp_path)


@pytest.mark.parametrize("cell", [L.LSTM, L.GRU])
def test_quantized_recurrent_is_refused_by_name(cell, tmp_path):
    fastnn.set_seed(0)
    model = quantize_dynamic(sequential((5, 3), cell(4)))
    with pytest.raises(ExportError, match=f"Quantized{cell.__name__} .*float only"):
        model.export(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
