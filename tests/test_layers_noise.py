"""GaussianNoise and GaussianDropout: the identity at inference, seeded normal noise of Keras's
moments while training, backward, configs, masks, files and ONNX export (as the identity)."""
import numpy as np
import pytest

import fastnn
from fastnn import layers as L
from fastnn.engine.context import CallContext

from layer_helpers import check_layer, check_save_load_export


def _train(layer, x):
    return np.array(layer.forward(CallContext(True, None), x))


@pytest.mark.parametrize("layer", [L.GaussianNoise(0.5, seed=3), L.GaussianDropout(0.3, seed=3)])
def test_identity_at_inference(layer):
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    assert np.array_equal(layer(x), x)
    assert np.array_equal(layer(x, training=False), x)


def test_moments_while_training():
    x = np.ones((400, 500), np.float32)
    noise = _train(L.GaussianNoise(0.5, seed=1), x) - 1.0
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.5) < 0.005
    scaled = _train(L.GaussianDropout(0.2, seed=1), x)
    assert abs(scaled.mean() - 1.0) < 0.005 and abs(scaled.std() - np.sqrt(0.2 / 0.8)) < 0.005


def test_seeded_draws_repeat_and_fastnn_seed_drives_the_unseeded():
    x = np.zeros((3, 4), np.float32)
    assert np.array_equal(_train(L.GaussianNoise(0.1, seed=7), x), _train(L.GaussianNoise(0.1, seed=7), x))
    layer = L.GaussianNoise(0.1, seed=7)
    assert not np.array_equal(_train(layer, x), _train(layer, x))  # the generator moves on
    draws = []
    for _ in range(2):
        fastnn.set_seed(5)
        draws.append(_train(L.GaussianDropout(0.4), np.ones((3, 4), np.float32)))
    assert np.array_equal(*draws)


@pytest.mark.parametrize("make", [lambda: L.GaussianNoise(0.3, seed=2), lambda: L.GaussianDropout(0.3, seed=2),
                                  lambda: L.GaussianNoise(0.0), lambda: L.GaussianDropout(0.0)])
def test_backward_replays_the_noise(make):
    layer = make()

    def replay():  # every forward of the check draws the same noise
        if layer.seed is not None:
            layer._rng = np.random.default_rng(layer.seed)

    check_layer(layer, (3, 4), (3, 4), 0, before_forward=replay)


@pytest.mark.parametrize("make, error", [
    (lambda: L.GaussianNoise(-0.1), ValueError), (lambda: L.GaussianNoise(1.5), ValueError),
    (lambda: L.GaussianNoise("0.1"), TypeError), (lambda: L.GaussianDropout(1.0), ValueError),
    (lambda: L.GaussianDropout(None), TypeError), (lambda: L.GaussianNoise(0.1, seed=-1), ValueError),
    (lambda: L.GaussianDropout(0.1, seed=1.5), ValueError),
])
def test_bad_arguments(make, error):
    with pytest.raises(error, match="Gaussian"):
        make()


def test_model_trains_passes_masks_saves_loads_and_exports(tmp_path, rng):
    inputs = fastnn.Input((5, 3))
    h = L.GaussianDropout(0.2, seed=1)(L.GaussianNoise(0.1)(L.Masking()(inputs)))
    model = fastnn.Model(inputs, L.LSTM(2)(h))
    mask = np.ones((1, 5), bool)
    assert L.GaussianNoise(0.1).compute_mask(None, mask) is mask
    assert L.GaussianDropout(0.1).compute_mask(None, mask) is mask
    model.compile("adam", "mse")
    x = rng.standard_normal((16, 5, 3)).astype(np.float32)
    model.fit(x, rng.standard_normal((16, 2)), epochs=2, verbose=0)
    check_save_load_export(model, x, tmp_path)
    assert fastnn.load_model(tmp_path / "model.fnn").layers[2].get_config()["stddev"] == 0.1
