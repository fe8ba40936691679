"""model.export(format="onnx"): each layer's converter and whole models, checked in ONNX Runtime
against predict; errors for what cannot be exported; verification that catches a wrong mapping."""
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastnn  # noqa: E402
from fastnn import layers as L  # noqa: E402
from fastnn.export import ExportError, VerificationError, converts, verify_onnx  # noqa: E402
from fastnn.export.verify import TOLERANCE  # noqa: E402


def exported(model, tmp_path, **kwargs):
    """Export, reload the file, run it on fresh inputs against predict; returns the export's report."""
    path = tmp_path / "model.onnx"
    report = model.export(path, **kwargs)
    assert len(report) == len(model.output_names)
    assert all(0.0 <= diff <= TOLERANCE * 10 for diff in report.values()), report
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    again = verify_onnx(model, proto.SerializeToString(), kwargs.get("sample_inputs"))
    assert set(again) == set(report)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    return report


def sequential(shape, *stack, dtype=None):
    return fastnn.Sequential([fastnn.Input(shape, dtype=dtype), *stack])


ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softplus", "softmax", "elu", "gelu", "silu", "leaky_relu"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_and_activation_layer(activation, tmp_path):
    model = sequential((7,), L.Dense(5, activation=activation), L.Dense(3), L.Activation(activation))
    exported(model, tmp_path)


def test_activations_at_large_inputs(tmp_path):
    model = sequential((4,), *[L.Activation(name) for name in ("softplus", "elu", "gelu", "silu")])
    x = np.array([[-90.0, -3.0, 0.5, 88.0], [40.0, -40.0, 1e-3, -1e-3]], np.float32)
    exported(model, tmp_path, sample_inputs=[x])


def test_dense_on_rank_3_without_bias_and_opset_18(tmp_path):
    model = sequential((4, 6), L.Dense(3, use_bias=False, activation="gelu"))
    exported(model, tmp_path, opset=18)
    assert onnx.load(tmp_path / "model.onnx").opset_import[0].version == 18


def test_reshaping_and_dropout(tmp_path):
    model = sequential((2, 3, 4), L.Flatten(), L.Dropout(0.5), L.Reshape((4, -1)), L.Dense(2), L.Flatten())
    exported(model, tmp_path)


@pytest.mark.parametrize("merge", [L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate])
def test_merge_layers(merge, tmp_path):
    a, b, c = fastnn.Input((3, 4)), fastnn.Input((3, 4)), fastnn.Input((3, 4))
    inputs = [a, b] if merge is L.Subtract else [a, b, c]
    out = merge()(inputs) if merge is not L.Concatenate else merge(axis=1)(inputs)
    exported(fastnn.Model(inputs, out), tmp_path)


def test_masking_with_a_merge(tmp_path):
    x = fastnn.Input((5, 3))
    masked = L.Masking(mask_value=0.0)(x)
    y = L.Add()([masked, L.Dense(3)(masked)])
    model = fastnn.Model(x, y)
    data = np.random.default_rng(0).standard_normal((4, 5, 3)).astype(np.float32)
    data[:, 3:] = 0.0
    data[1, 1, 0] = 0.0  # one zero feature alone does not mask its step
    exported(model, tmp_path, sample_inputs=[data])


def test_normalization_and_rescaling(tmp_path):
    rng = np.random.default_rng(1)
    norm = L.Normalization()
    norm.adapt(rng.standard_normal((50, 4, 3)) * 3 + 1)
    per_axis = L.Normalization(axis=(1,), mean=[0.5, -1.0, 2.0, 0.0], variance=[4.0, 0.25, 1.0, 0.0])
    model = sequential((4, 3), norm, per_axis, L.Normalization(axis=None, mean=1.0, variance=2.0, invert=True),
                       L.Rescaling(1 / 255.0, offset=-0.5), L.Rescaling([1.0, 2.0, -3.0], offset=[0.0, 0.5, 1.0]))
    exported(model, tmp_path)


def test_imputation_fills_nan(tmp_path):
    imputer = L.Imputation(strategy="median")
    data = np.random.default_rng(2).standard_normal((20, 4)).astype(np.float32)
    data[data > 1.0] = np.nan
    imputer.adapt(data)
    model = sequential((4,), imputer, L.Dense(2))
    exported(model, tmp_path, sample_inputs=[data])


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization(mode, tmp_path):
    layer = L.Discretization(bin_boundaries=[-1.0, 0.0, 0.5, 2.0], output_mode=mode)
    model = sequential((3,), layer)
    data = np.array([[np.nan, -1.0, 0.0], [0.5, 2.0, 7.0], [-5.0, 0.25, 1.0]], np.float32)
    exported(model, tmp_path)
    exported(model, tmp_path, sample_inputs=[data])


def test_discretization_of_integers(tmp_path):
    model = sequential((4,), L.Discretization(bin_boundaries=[-1.0, 2.5, 3.0]), dtype="int64")
    exported(model, tmp_path)


@pytest.mark.parametrize("mode,shape", [("one_hot", (1,)), ("one_hot", (3,)), ("multi_hot", (4,)),
                                        ("count", (4,)), ("multi_hot", ())])
def test_category_encoding(mode, shape, tmp_path):
    model = sequential(shape, L.CategoryEncoding(num_tokens=6, output_mode=mode), dtype="int64")
    exported(model, tmp_path)


@pytest.mark.parametrize("kwargs", [{}, {"mask_token": "<pad>"}, {"output_mode": "one_hot"},
                                    {"output_mode": "multi_hot", "mask_token": "<pad>"},
                                    {"output_mode": "count", "pad_to_max_tokens": True, "max_tokens": 9}])
def test_string_lookup(kwargs, tmp_path):
    lookup = L.StringLookup(vocabulary=["cat", "dog", "bird", "fish"], **kwargs)
    model = sequential((3,), lookup, dtype="string")
    exported(model, tmp_path)


def test_string_lookup_invert_and_integer_lookup_buckets(tmp_path):
    invert = L.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    exported(sequential((2,), invert, dtype="int64"), tmp_path)
    integers = L.IntegerLookup(vocabulary=[3, 10, 42], num_oov_indices=3, mask_token=0)
    exported(sequential((5,), integers, dtype="int64"), tmp_path)


def test_augmentation_is_the_identity_and_random_crop_a_slice(tmp_path):
    model = sequential((9, 8, 3), L.RandomFlip(), L.RandomRotation(0.2), L.RandomZoom(0.1), L.RandomContrast(0.3),
                       L.RandomTranslation(0.1, 0.1), L.RandomCrop(5, 4))  # 9x7 window resized to 5x4
    exported(model, tmp_path)
    exported(sequential((10, 8, 2), L.RandomCrop(5, 4)), tmp_path)  # the 10x8 window is sliced


def test_mlp(tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((64, 20)).astype(np.float32), rng.integers(0, 3, 64)
    model = sequential((20,), L.Dense(32, activation="relu"), L.Dropout(0.2), L.Dense(16, activation="tanh"),
                       L.Dense(3, activation="softmax"))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    report = exported(model, tmp_path)
    print("MLP max difference", report)


def test_functional_multi_io_shared_and_nested(tmp_path):
    inner_in = fastnn.Input((6,))
    inner = fastnn.Model(inner_in, L.Dense(4, activation="relu")(L.Dense(6, activation="tanh")(inner_in)),
                         name="inner")
    a, b = fastnn.Input((6,), name="left"), fastnn.Input((6,), name="right")
    shared = L.Dense(6, activation="elu")
    ha, hb = inner(shared(a)), inner(shared(b))
    joined = L.Concatenate()([ha, hb, L.Subtract()([ha, hb])])
    model = fastnn.Model([a, b], {"score": L.Dense(1, activation="sigmoid")(joined), "features": joined})
    report = exported(model, tmp_path)
    assert set(report) == {"score", "features"}
    proto = onnx.load(tmp_path / "model.onnx")
    assert [i.name for i in proto.graph.input] == ["left", "right"]
    # the shared Dense and the nested model, each called twice, have their weights stored once
    assert sum(t.name.endswith("kernel") for t in proto.graph.initializer) == 4


@pytest.mark.parametrize("layer,shape", [
    (lambda: L.Conv2D(4, 3, padding="same", activation="relu"), (9, 8, 3)),
    (lambda: L.Conv2D(6, (3, 2), strides=2, padding="same", groups=3), (9, 7, 3)),
    (lambda: L.Conv2D(4, 3, dilation_rate=2, padding="same"), (9, 8, 2)),
    (lambda: L.Conv2D(4, (2, 3), strides=(2, 1)), (9, 8, 2)),
    (lambda: L.Conv2D(4, 3, padding="same", activation="softmax"), (None, None, 2)),
    (lambda: L.Conv1D(5, 3, padding="causal", dilation_rate=2, activation="tanh"), (10, 3)),
    (lambda: L.Conv1D(4, 4, strides=2, padding="same"), (11, 2)),
    (lambda: L.Conv1D(4, 2), (None, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="gelu"), (8, 7, 3)),
    (lambda: L.DepthwiseConv2D(2, strides=2), (8, 7, 3)),
    (lambda: L.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="relu"), (8, 7, 3)),
    (lambda: L.SeparableConv2D(4, 3, strides=2, use_bias=False), (9, 8, 2)),
    (lambda: L.Conv2DTranspose(4, 3, strides=2, padding="same"), (5, 4, 3)),
    (lambda: L.Conv2DTranspose(4, 2, strides=3), (5, 4, 3)),
    (lambda: L.Conv2DTranspose(4, 3, strides=2, padding="valid", activation="relu"), (5, 4, 3)),
    (lambda: L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1), (4, 5, 2)),
    (lambda: L.Conv2DTranspose(3, 4, strides=2, dilation_rate=1, padding="valid", output_padding=0), (4, 5, 2)),
    (lambda: L.MaxPooling2D(2), (9, 8, 3)),
    (lambda: L.MaxPooling2D(3, strides=2, padding="same"), (9, 8, 3)),
    (lambda: L.AveragePooling2D(3, strides=2, padding="same"), (9, 8, 3)),
    (lambda: L.AveragePooling2D((2, 3), padding="valid"), (9, 8, 3)),
    (lambda: L.AveragePooling2D(3, strides=2, padding="same"), (None, None, 3)),
    (lambda: L.MaxPooling1D(3, strides=2, padding="same"), (11, 3)),
    (lambda: L.AveragePooling1D(3, padding="same"), (10, 3)),
    (lambda: L.GlobalMaxPooling2D(), (5, 4, 3)),
    (lambda: L.GlobalAveragePooling2D(keepdims=True), (5, 4, 3)),
    (lambda: L.GlobalMaxPooling1D(keepdims=True), (6, 3)),
    (lambda: L.GlobalAveragePooling1D(), (6, 3)),
    (lambda: L.BatchNormalization(epsilon=0.01), (5, 4, 3)),
    (lambda: L.BatchNormalization(center=False), (6, 3)),
    (lambda: L.BatchNormalization(scale=False), (3,)),
    (lambda: L.ZeroPadding2D(((1, 2), (0, 3))), (5, 4, 3)),
    (lambda: L.Cropping2D(((1, 0), (2, 1))), (6, 5, 3)),
    (lambda: L.Cropping2D(1), (None, None, 3)),
    (lambda: L.UpSampling2D((2, 3)), (4, 3, 2)),
    (lambda: L.UpSampling2D(2, interpolation="bilinear"), (4, 3, 2)),
    (lambda: L.SpatialDropout2D(0.3), (4, 3, 2)),
])
def test_image_layers(layer, shape, tmp_path):
    """Each convolution, pooling, normalization and image-shape layer, sizes known and unknown."""
    model = sequential(shape, layer())
    if any(isinstance(l, L.BatchNormalization) for l in model.layers):
        bn = model.layers[0]
        rng = np.random.default_rng(4)
        bn.set_weights([rng.uniform(0.5, 2.0, w.shape).astype(np.float32) if "variance" in n or n == "gamma"
                        else rng.standard_normal(w.shape).astype(np.float32)
                        for n, w in zip(bn._weight_names, bn.weights)])
    exported(model, tmp_path)


@pytest.mark.parametrize("resize", [lambda: L.UpSampling2D(2), lambda: L.UpSampling2D((2, 3), interpolation="bilinear"),
                                    lambda: L.RandomCrop(5, 7)])
def test_resize_between_convolutions(resize, tmp_path):
    """A resize between two NHWC layers (the decoder of a convolutional autoencoder): ONNX Runtime's
    transpose optimizer must be able to move the layout Transposes through it."""
    model = sequential((8, 8, 3), L.Conv2D(4, 3, padding="same"), resize(), L.Conv2D(2, 3, padding="same"),
                       L.MaxPooling2D())
    exported(model, tmp_path)


@pytest.mark.parametrize("declared", ["int64", "int32"])
def test_integer_samples_of_another_width_verify(declared, tmp_path):
    """pad_sequences gives int32 ids; predict takes them for an int64 input, and so does verification
    (ONNX Runtime takes only the declared type)."""
    ids = fastnn.utils.pad_sequences([[3, 4, 5], [7, 8], [9]], maxlen=6)
    model = fastnn.Sequential([fastnn.Input((6,), dtype=declared), L.Embedding(20, 4, mask_zero=True), L.GRU(3),
                               L.Dense(1)])
    exported(model, tmp_path, sample_inputs=[ids.astype("int64" if declared == "int32" else "int32")])


def test_masked_global_average_pooling(tmp_path):
    x = fastnn.Input((6, 3))
    model = fastnn.Model(x, L.GlobalAveragePooling1D()(L.Masking()(x)))
    data = np.random.default_rng(5).standard_normal((4, 6, 3)).astype(np.float32)
    data[0, 4:] = 0.0
    data[2, 1] = 0.0
    exported(model, tmp_path, sample_inputs=[data])


def test_cnn(tmp_path):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((64, 12, 12, 3)).astype(np.float32), rng.integers(0, 4, 64)
    model = sequential((12, 12, 3), L.Rescaling(0.5), L.Conv2D(8, 3, padding="same", use_bias=False),
                       L.BatchNormalization(), L.Activation("relu"), L.MaxPooling2D(2),
                       L.Conv2D(16, 3, strides=2, padding="same", activation="relu"), L.BatchNormalization(),
                       L.AveragePooling2D(2, padding="same"), L.GlobalAveragePooling2D(), L.Dense(4, activation="softmax"))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    report = exported(model, tmp_path)
    print("CNN max difference", report)
    # export folds the first BN into its convolution (the second follows a relu and stays)
    proto = onnx.load(tmp_path / "model.onnx")
    assert [node.op_type for node in proto.graph.node].count("BatchNormalization") == 1
    exported(fastnn.optimize.fold_batchnorm(model), tmp_path)
    proto = onnx.load(tmp_path / "model.onnx")
    assert [node.op_type for node in proto.graph.node].count("BatchNormalization") == 1
    print("folded CNN against the original model", verify_onnx(model, proto))


def test_dense_then_batch_normalization_is_folded_at_export(tmp_path):
    # ONNX Runtime folds BatchNormalization into a Conv but not into a MatMul: the exporter does it.
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 2, (64, 1))
    model = sequential((6,), L.Dense(8), L.BatchNormalization(), L.Activation("relu"),
                       L.Dense(1, activation="sigmoid"))
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    exported(model, tmp_path)
    ops = [node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node]
    assert "BatchNormalization" not in ops and ops.count("MatMul") == 2
    model.reference_statistics = {"drift": "statistics"}  # what `python -m fastnn serve` monitors with
    folded = fastnn.optimize.for_inference(model)
    assert folded is not model and len(folded.layers) == len(model.layers) - 1
    assert folded.reference_statistics is model.reference_statistics
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    plain = sequential((6,), L.Dense(1))
    assert fastnn.optimize.for_inference(plain) is plain


def randomized(model, seed=7):
    """Biases away from zero, so a wrong gate order or bias placement shows."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


RNNS = [
    lambda: L.LSTM(5),
    lambda: L.LSTM(4, return_sequences=True, go_backwards=True),
    lambda: L.LSTM(3, return_sequences=True, use_bias=False, activation="relu"),
    lambda: L.GRU(5),
    lambda: L.GRU(4, return_sequences=True, reset_after=False),
    lambda: L.GRU(4, go_backwards=True),
    lambda: L.SimpleRNN(4, return_sequences=True),
    lambda: L.SimpleRNN(3, activation="relu", go_backwards=True, return_sequences=True),
    lambda: L.Bidirectional(L.LSTM(4, return_sequences=True)),
    lambda: L.Bidirectional(L.GRU(3), merge_mode="sum"),
    lambda: L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave"),
    lambda: L.Bidirectional(L.LSTM(3), merge_mode="mul"),
]


@pytest.mark.parametrize("make", RNNS)
def test_recurrent_layers(make, tmp_path):
    """ONNX's RNN/LSTM/GRU operators (gates reordered, biases placed) in every direction and merge mode."""
    exported(randomized(sequential((6, 3), make())), tmp_path)


@pytest.mark.parametrize("make", RNNS + [lambda: L.LSTM(4, return_sequences=True, zero_output_for_mask=True),
                                         lambda: L.GRU(4, go_backwards=True, return_sequences=True)])
def test_recurrent_layers_under_masks(make, tmp_path):
    """Embedding(mask_zero) ids padded after, before, and with a gap: the masked steps are skipped."""
    model = randomized(sequential((7,), L.Embedding(20, 3, mask_zero=True), make(), dtype="int64"))
    exported(model, tmp_path)
    ops = {node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node}
    assert ops & {"LSTM", "GRU", "RNN"} and not ops & {"Loop", "Scan"}


def test_return_state_and_merge_none(tmp_path):
    x = fastnn.Input((5,), dtype="int64")
    e = L.Embedding(12, 4, mask_zero=True)(x)
    y, h, c = L.LSTM(3, return_sequences=True, return_state=True)(e)
    f, b = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None)(e)
    outs = L.Bidirectional(L.LSTM(2, return_state=True))(e)
    model = randomized(fastnn.Model(x, [y, h, c, f, b] + outs))
    exported(model, tmp_path)


def test_time_distributed(tmp_path):
    model = sequential((4, 6), L.TimeDistributed(L.Dense(3, activation="relu")))
    exported(model, tmp_path)


def test_text_model(tmp_path):
    pytest.importorskip("onnxruntime_extensions")
    texts = np.array(["the cat sat on the mat", "a dog, a CAT!", "birds fly", "the end"], dtype=object)
    vectorize = L.TextVectorization(max_tokens=20, output_sequence_length=8)
    vectorize.adapt(texts)
    x = fastnn.Input((1,), dtype="string")
    ids = vectorize(x)
    h = L.Bidirectional(L.LSTM(4))(L.Embedding(20, 5, mask_zero=True)(ids))
    model = randomized(fastnn.Model(x, [L.Dense(1, activation="sigmoid")(h), ids]))
    print("text max difference", exported(model, tmp_path))


@pytest.mark.parametrize("kwargs", [{"output_mode": "multi_hot"}, {"output_mode": "count", "standardize": "lower"},
                                    {"output_mode": "tf_idf"}, {"split": None, "standardize": None},
                                    {"output_mode": "int"}])
def test_text_vectorization_modes(kwargs, tmp_path):
    pytest.importorskip("onnxruntime_extensions")
    texts = np.array([["the cat sat on the mat"], ["a dog, a CAT!"], ["birds fly"]], dtype=object)
    vectorize = L.TextVectorization(**kwargs)
    vectorize.adapt(texts)
    exported(sequential((1,), vectorize, dtype="string"), tmp_path)


def test_text_vectorization_splits_on_every_whitespace_predict_splits_on(tmp_path):
    pytest.importorskip("onnxruntime_extensions")
    vectorize = L.TextVectorization(vocabulary=["call", "now", "free"], output_sequence_length=4)
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    texts = [[f"call{space}now{space * 2}free"] for space in spaces] + [["\r\n call\t\tnow\nfree "]]
    texts = np.array(texts, dtype=object)
    model = sequential((1,), vectorize, dtype="string")
    assert (model.predict(texts, verbose=0)[:, :3] == [2, 3, 4]).all()
    exported(model, tmp_path, sample_inputs=[texts])


def test_embedding_bilstm_and_gru_models(tmp_path):
    rng = np.random.default_rng(8)
    ids = rng.integers(1, 50, (64, 10))
    ids[::2, 6:] = 0
    y = rng.integers(0, 2, 64)
    text = sequential((10,), L.Embedding(50, 8, mask_zero=True), L.Bidirectional(L.LSTM(8, return_sequences=True)),
                      L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid"), dtype="int64")
    gru = sequential((10, 3), L.GRU(8, return_sequences=True), L.GRU(6), L.Dense(2, activation="softmax"))
    for model, x in ((text, ids), (gru, rng.standard_normal((64, 10, 3)).astype(np.float32))):
        model.compile("adam", "sparse_categorical_crossentropy" if model is gru else "binary_crossentropy")
        model.fit(x, y, epochs=2, verbose=0)
        print(model.name, "max difference", exported(model, tmp_path))


def test_sequence_layers_that_cannot_be_exported(monkeypatch, tmp_path):
    stateful = fastnn.Sequential([fastnn.Input((4, 2), batch_size=3), L.GRU(2, stateful=True, name="carry")])
    with pytest.raises(ExportError, match=r"GRU 'carry' .*stateful"):
        stateful.export(tmp_path / "m.onnx")
    with pytest.raises(ExportError, match=r"LSTM 'smooth' .*not gelu"):
        sequential((4, 2), L.LSTM(2, activation="gelu", name="smooth")).export(tmp_path / "m.onnx")
    vectorize = L.TextVectorization(vocabulary=["a", "b"], ngrams=2, name="grams")
    with pytest.raises(ExportError, match=r"TextVectorization 'grams' .*n-grams"):
        sequential((1,), vectorize, dtype="string").export(tmp_path / "m.onnx")
    monkeypatch.setattr(fastnn.export.text, "_extensions_installed", lambda: False)
    plain = L.TextVectorization(vocabulary=["a", "b"], name="words")
    with pytest.raises(ExportError, match=r"TextVectorization 'words' .*onnxruntime-extensions.*stop at the integer "
                                          r"ids"):
        sequential((1,), plain, dtype="string").export(tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


class Doubling(fastnn.layers.Layer):
    """A test layer: 2x. Its converter below is wrong on purpose (2.001x)."""

    def forward(self, ctx, x):
        return x * np.float32(2.0)


@converts(Doubling)
def _wrong_doubling(call):
    return call.g.op("Mul", [call.x, call.g.const(2.001)])


def test_verification_catches_a_wrong_mapping_and_writes_nothing(tmp_path):
    model = sequential((4,), Doubling())
    path = tmp_path / "wrong.onnx"
    with pytest.raises(VerificationError, match=r"output 'doubling.*' at batch size 1 differs from fastnn's by up to"):
        model.export(path)
    assert os.listdir(tmp_path) == []
    assert model.export(path, verify=False) is None
    assert path.exists()


def test_verify_reports_the_largest_difference(tmp_path):
    model = sequential((3,), L.Dense(2))
    model.layers[0].set_weights([np.ones((3, 2), np.float32), np.zeros(2, np.float32)])
    proto = fastnn.export.model_to_onnx(model, 21)
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], np.float32)
    assert verify_onnx(model, proto, [x]) == {model.output_names[0]: 0.0}
    bias = next(t for t in proto.graph.initializer if t.name.endswith("bias"))
    bias.CopyFrom(onnx.numpy_helper.from_array(np.array([0.0, 3e-5], np.float32), bias.name))
    with pytest.raises(VerificationError, match=r"by up to 3e-05"):
        verify_onnx(model, proto, [x])


class Unmapped(fastnn.layers.Layer):
    def forward(self, ctx, x):
        return x


def test_errors_name_the_layer(tmp_path):
    with pytest.raises(ExportError, match=r"Unmapped 'odd' cannot be exported to ONNX: .*no ONNX mapping"):
        sequential((3,), Unmapped(name="odd")).export(tmp_path / "m.onnx")
    with pytest.raises(ExportError, match=r"Hashing 'hash' cannot be exported.*FNV-1a"):
        sequential((1,), L.Hashing(8, name="hash"), dtype="string").export(tmp_path / "m.onnx")
    with pytest.raises(ExportError, match=r"StringLookup .* FNV-1a"):
        sequential((1,), L.StringLookup(vocabulary=["a"], num_oov_indices=2), dtype="string").export(tmp_path / "m.onnx")
    x = fastnn.Input((3,))
    with pytest.raises(ExportError, match=r"Dropout 'drop' .*training=True"):
        fastnn.Model(x, L.Dropout(0.5, name="drop")(x, training=True)).export(tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="not built"):
        fastnn.Sequential([L.Dense(2)]).export(tmp_path / "m.onnx")
    model = sequential((3,), L.Dense(2))
    with pytest.raises(ValueError, match="opset must be"):
        model.export(tmp_path / "m.onnx", opset=12)
    with pytest.raises(ValueError, match="format must be one of onnx"):
        model.export(tmp_path / "m.onnx", format="tf_saved_model")
    assert os.listdir(tmp_path) == []


def test_without_onnx_the_error_names_the_extra(monkeypatch, tmp_path):
    import sys

    for name in [n for n in sys.modules if n == "fastnn.export" or n.startswith("fastnn.export.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'fastnn\[onnx\]'"):
        sequential((3,), L.Dense(2)).export(tmp_path / "m.onnx")
