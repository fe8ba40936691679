"""Permute, RepeatVector, ZeroPadding1D, Cropping1D, UpSampling1D and Identity: shapes, values,
backward by finite differences, configs, masks, files and ONNX export."""
import numpy as np
import pytest

import fastnn
from fastnn import layers as L

from layer_helpers import check_layer, check_save_load_export

X = np.arange(24, dtype=np.float32).reshape(2, 4, 3)


@pytest.mark.parametrize("layer, input_shape, output_shape, expected", [
    (L.Permute((2, 1)), (2, 4, 3), (2, 3, 4), X.transpose(0, 2, 1)),
    (L.Permute((1, 3, 2)), (2, 4, 3, 1), (2, 4, 1, 3), X[..., None].transpose(0, 1, 3, 2)),
    (L.ZeroPadding1D(), (2, 4, 3), (2, 6, 3), np.pad(X, ((0, 0), (1, 1), (0, 0)))),
    (L.ZeroPadding1D((0, 2)), (2, 4, 3), (2, 6, 3), np.pad(X, ((0, 0), (0, 2), (0, 0)))),
    (L.Cropping1D(), (2, 4, 3), (2, 2, 3), X[:, 1:3]),
    (L.Cropping1D((0, 3)), (2, 4, 3), (2, 1, 3), X[:, :1]),
    (L.UpSampling1D(), (2, 4, 3), (2, 8, 3), np.repeat(X, 2, axis=1)),
    (L.UpSampling1D(size=3), (2, 4, 3), (2, 12, 3), np.repeat(X, 3, axis=1)),
    (L.Identity(), (2, 4, 3), (2, 4, 3), X),
])
def test_layer(layer, input_shape, output_shape, expected):
    x = X.reshape(input_shape)
    y = check_layer(layer, input_shape, output_shape, 0, x=x)
    np.testing.assert_array_equal(y, expected.reshape(output_shape))


def test_repeat_vector():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    y = check_layer(L.RepeatVector(3), (2, 2), (2, 3, 2), 0, x=x)
    np.testing.assert_array_equal(y, np.repeat(x[:, None], 3, axis=1))


def test_configs_match_keras_arguments():
    assert L.ZeroPadding1D(2).get_config()["padding"] == [2, 2]
    assert L.Cropping1D(2).get_config()["cropping"] == [2, 2]
    assert L.UpSampling1D().get_config()["size"] == 2
    assert L.Permute((2, 1)).get_config()["dims"] == [2, 1]
    assert L.RepeatVector(4).get_config()["n"] == 4


@pytest.mark.parametrize("make, error", [
    (lambda: L.Permute((1, 1)), ValueError), (lambda: L.Permute((0, 1)), ValueError),
    (lambda: L.Permute("ab"), TypeError), (lambda: L.RepeatVector(0), ValueError),
    (lambda: L.RepeatVector("3"), TypeError), (lambda: L.ZeroPadding1D(-1), ValueError),
    (lambda: L.ZeroPadding1D((1, 2, 3)), ValueError), (lambda: L.Cropping1D("1"), TypeError),
    (lambda: L.UpSampling1D(0), ValueError), (lambda: L.ZeroPadding1D(data_format="channels_first"), ValueError),
])
def test_bad_arguments(make, error):
    with pytest.raises(error, match="Permute|RepeatVector|ZeroPadding1D|Cropping1D|UpSampling1D"):
        make()


@pytest.mark.parametrize("layer, shape", [
    (L.Permute((2, 1)), (4,)), (L.RepeatVector(2), (4, 3)), (L.ZeroPadding1D(), (4,)), (L.Cropping1D(2), (4, 3)),
    (L.UpSampling1D(), (4, 3, 2)),
])
def test_bad_input_shapes(layer, shape):
    with pytest.raises(ValueError, match=type(layer).__name__):
        fastnn.Sequential([fastnn.Input(shape), layer])


def test_masks_as_keras():
    """Identity passes a mask on; the others drop it (Keras's supports_masking is False for them)."""
    mask = np.ones((1, 4), bool)
    assert L.Identity().compute_mask(None, mask) is mask
    for layer in (L.Permute((2, 1)), L.ZeroPadding1D(), L.Cropping1D(), L.UpSampling1D(), L.RepeatVector(2)):
        assert layer.compute_mask(None, mask) is None


def test_model_trains_saves_loads_and_exports(tmp_path, rng):
    inputs = fastnn.Input((4, 3))
    h = L.Permute((2, 1))(inputs)
    h = L.Permute((2, 1))(h)
    h = L.Cropping1D((2, 1))(L.ZeroPadding1D((1, 2))(h))
    h = L.Identity()(L.UpSampling1D(3)(h))
    model = fastnn.Model(inputs, L.RepeatVector(2)(L.Dense(5)(L.Flatten()(h))))
    assert model.output_shape == (None, 2, 5)
    model.compile("adam", "mse")
    x = rng.standard_normal((16, 4, 3)).astype(np.float32)
    history = model.fit(x, rng.standard_normal((16, 2, 5)), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    check_save_load_export(model, x, tmp_path)
