"""int8 inference rows for compare.py (--only quant): the MLP 784-1024-1024-10 quantized with
fastnn.optimize.quantize_dynamic against the same model in float32, and against ONNX Runtime's dynamic
quantization of it when onnxruntime and onnx are installed; then the two AVX2 kernels without VNNI
(full u8 activations widened to int16, 7-bit activations through vpmaddubsw) side by side; then Keras's
MNIST CNN on one image and LSTM and GRU text classifiers on one sequence, int8 against float32.

The "fastnn" side of every row is the int8 model; a peer's ratio above 1 means the int8 model is faster.
quant_notes() gives each model's largest output error relative to the float32 output's largest value.
"""
import os
import tempfile

import numpy as np

import fastnn
from fastnn import _C
from fastnn.benchmark import Row
from fastnn.optimize import quantize_dynamic

SIZES = (784, 1024, 1024, 10)
ACTIVATIONS = ("relu", "relu", None)


def _float_model():
    from fastnn.layers import Dense

    fastnn.set_seed(0)
    return fastnn.Sequential([Dense(SIZES[1], activation=ACTIVATIONS[0], input_dim=SIZES[0])] +
                             [Dense(u, activation=a) for u, a in zip(SIZES[2:], ACTIVATIONS[1:])])


def _onnxruntime_int8(model, threads):
    """An ONNX Runtime session of the model after onnxruntime.quantization.quantize_dynamic (its
    defaults: per-tensor int8 weights, uint8 activations), or None when onnxruntime is missing."""
    try:
        import onnx
        import onnxruntime
        from onnx import TensorProto, helper, numpy_helper
        from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic
    except ImportError:
        return None
    nodes, inits, name = [], [], "x"
    for i, layer in enumerate(model.layers):
        inits += [numpy_helper.from_array(layer.kernel, f"w{i}"), numpy_helper.from_array(layer.bias, f"b{i}")]
        nodes += [helper.make_node("MatMul", [name, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"z{i}"])]
        name = f"z{i}"
        if ACTIVATIONS[i] == "relu":
            nodes.append(helper.make_node("Relu", [name], [f"a{i}"]))
            name = f"a{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, SIZES[0]])],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, SIZES[-1]])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = os.path.join(tmp, "mlp.onnx"), os.path.join(tmp, "mlp.int8.onnx")
        onnx.save(proto, fp32_path)
        ort_quantize_dynamic(fp32_path, int8_path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = onnxruntime.InferenceSession(int8_path, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def _on_path(path, fn):
    """fn run with the SIMD path forced to `path` (restored after)."""
    def run():
        previous = _C.simd_get()
        _C.simd_set(path)
        try:
            return fn()
        finally:
            _C.simd_set(previous)
    return run


def _models(threads):
    model = _float_model()
    return model, quantize_dynamic(model), quantize_dynamic(model, reduce_range=True), _onnxruntime_int8(model, threads)


def quant_rows(threads):
    model, int8, int8_7bit, ort = _models(threads)
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 64):
        x = rng.random((batch, SIZES[0])).astype(np.float32)
        what = "one row" if batch == 1 else f"batch {batch}"
        for t in sorted({1, threads}):
            impls = {"fastnn": lambda x=x: int8.predict(x, verbose=0),
                     "fp32": lambda x=x: model.predict(x, verbose=0)}
            if ort is not None and t == threads:
                impls["onnxruntime"] = lambda x=x: ort(x)
            rows.append(Row(f"int8 MLP 784-1024-1024-10, {what}", impls, threads=t,
                            flops=2 * batch * sum(a * b for a, b in zip(SIZES, SIZES[1:]))))
        if _C.cpu_supports("avx2"):
            rows.append(Row(f"int8 MLP {what}, AVX2: u8 widened vs 7-bit", {
                "fastnn": _on_path("avx2", lambda x=x: int8.predict(x, verbose=0)),
                "7-bit": _on_path("avx2", lambda x=x: int8_7bit.predict(x, verbose=0))}, threads=1))
    return rows + _layer_rows(threads)


def _cnn():
    """Keras's MNIST convnet example: two 3x3 convolutions, pooling, two dense layers."""
    from fastnn.layers import Conv2D, Dense, Flatten, MaxPooling2D

    fastnn.set_seed(0)
    return fastnn.Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                              Conv2D(64, 3, activation="relu"), MaxPooling2D(2), Flatten(),
                              Dense(128, activation="relu"), Dense(10)])


def _text_model(cell):
    """A sentiment classifier: Embedding(10000, 64) over 100 tokens, a 128-unit LSTM or GRU, one logit."""
    from fastnn.layers import Dense, Embedding

    fastnn.set_seed(0)
    return fastnn.Sequential([Embedding(10000, 64, input_shape=(100,)), cell(128), Dense(1)])


def _layer_models():
    from fastnn.layers import GRU, LSTM

    rng = np.random.default_rng(2)
    images = rng.random((1, 28, 28, 1)).astype(np.float32)
    tokens = rng.integers(1, 10000, (1, 100))
    return [("CNN (Keras MNIST convnet), one image", _cnn(), images),
            ("LSTM(128) text model, one sequence of 100", _text_model(LSTM), tokens),
            ("GRU(128) text model, one sequence of 100", _text_model(GRU), tokens)]


def _layer_rows(threads):
    """int8 against float32 for a convolutional and two recurrent models, one input each."""
    rows = []
    for name, model, x in _layer_models():
        int8 = quantize_dynamic(model)
        for t in sorted({1, threads}):
            rows.append(Row(f"int8 {name}", {"fastnn": lambda int8=int8, x=x: int8.predict(x, verbose=0),
                                             "fp32": lambda model=model, x=x: model.predict(x, verbose=0)},
                            threads=t))
    return rows


def quant_notes(threads):
    """Lines giving each quantized model's largest error relative to the float32 output's largest value."""
    model, int8, int8_7bit, ort = _models(threads)
    x = np.random.default_rng(1).random((256, SIZES[0])).astype(np.float32)
    reference = model.predict(x, verbose=0)
    scale = np.abs(reference).max()
    sides = {"fastnn int8": int8.predict(x, verbose=0), "fastnn int8 reduce_range": int8_7bit.predict(x, verbose=0)}
    if ort is not None:
        sides["onnxruntime int8"] = ort(x)
    notes = [f"{name}: max |y - y_fp32| / max |y_fp32| = {np.abs(y - reference).max() / scale:.4f}"
             for name, y in sides.items()]
    rng = np.random.default_rng(3)
    for name, model, x in _layer_models():
        x = rng.random((64,) + x.shape[1:]).astype(np.float32) if x.dtype == np.float32 else \
            rng.integers(1, 10000, (64,) + x.shape[1:])
        reference = model.predict(x, verbose=0)
        error = np.abs(quantize_dynamic(model).predict(x, verbose=0) - reference).max() / np.abs(reference).max()
        notes.append(f"int8 {name.split(',')[0]} over 64 inputs: max |y - y_fp32| / max |y_fp32| = {error:.4f}")
    return notes + [f"int8 kernel: {_C.qgemm_kernel()}"]
