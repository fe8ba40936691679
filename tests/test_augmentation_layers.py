"""The image augmentation layers: exactly the identity in inference, seeded and reproducible in training,
the maps Keras documents (checked against the C kernels' references and known geometry), RandomCrop's
centred window against TensorFlow's resize, backward by finite differences, in models."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.layers import (Dense, Flatten, Input, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                           RandomTranslation, RandomZoom)

import reference as ref
from layer_helpers import check_layer

LAYERS = {
    "flip": lambda seed: RandomFlip(seed=seed),
    "rotation": lambda seed: RandomRotation(0.2, seed=seed),
    "translation": lambda seed: RandomTranslation(0.2, (-0.3, 0.1), fill_mode="wrap", seed=seed),
    "zoom": lambda seed: RandomZoom((-0.4, 0.3), width_factor=0.2, fill_mode="constant", fill_value=0.5, seed=seed),
    "contrast": lambda seed: RandomContrast(0.5, seed=seed),
    "crop": lambda seed: RandomCrop(5, 6, seed=seed),
}


def images(rng, shape=(6, 8, 9, 3)):
    return rng.uniform(0, 255, shape).astype(np.float32)


@pytest.mark.parametrize("name", [n for n in LAYERS if n != "crop"])
def test_identity_in_inference(name, rng):
    x = images(rng)
    layer = LAYERS[name](1)
    assert layer(x) is not x and np.array_equal(layer(x), x)
    model = fastnn.Sequential([Input(x.shape[1:]), layer])
    assert np.array_equal(model.predict(x, verbose=0), x)
    assert np.array_equal(model(x), x)


@pytest.mark.parametrize("name", list(LAYERS))
def test_seeded_and_reproducible(name, rng):
    x = images(rng)
    first, second = LAYERS[name](7), LAYERS[name](7)
    a = [first(x, training=True) for _ in range(3)]
    b = [second(x, training=True) for _ in range(3)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], a[1])  # each call draws anew
    fastnn.set_seed(5)
    c = LAYERS[name](None)(x, training=True)
    fastnn.set_seed(5)
    assert np.array_equal(c, LAYERS[name](None)(x, training=True))


def test_flip_draws_each_axis_per_image(rng):
    x = images(rng, (400, 3, 4, 1))
    out = RandomFlip(seed=0)(x, training=True)
    kinds = []
    for image, flipped in zip(x, out):
        candidates = [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]
        kinds.append([k for k, c in enumerate(candidates) if np.array_equal(c, flipped)][0])
    counts = np.bincount(kinds, minlength=4)
    assert (counts > 60).all(), counts  # four outcomes, about 100 each
    horizontal = RandomFlip("horizontal", seed=0)(x, training=True)
    assert all(np.array_equal(h, i) or np.array_equal(h, i[:, ::-1]) for h, i in zip(horizontal, x))


def test_geometry_of_rotation_translation_and_zoom(rng):
    x = images(rng, (2, 7, 7, 2))
    quarter = RandomRotation((0.25, 0.25), fill_mode="constant")(x, training=True)  # 90 degrees counter-clockwise
    np.testing.assert_allclose(quarter, np.rot90(x, axes=(1, 2)), atol=1e-3)
    down = RandomTranslation((2 / 7, 2 / 7), (0.0, 0.0), fill_mode="constant", fill_value=-1.0)(x, training=True)
    np.testing.assert_allclose(down[:, 2:], x[:, :-2], atol=1e-3)
    assert np.all(down[:, :2] == -1.0)
    zoom_in = RandomZoom((-0.5, -0.5), interpolation="nearest")(x, training=True)  # twice as large about the centre
    assert np.array_equal(zoom_in[:, 3, 3], x[:, 3, 3]) and np.array_equal(zoom_in[:, 1, 1], x[:, 2, 2])


@pytest.mark.parametrize("name", ["rotation", "translation", "zoom"])
def test_affine_layers_resample_their_drawn_transforms(name, rng):
    x = images(rng)
    layer = LAYERS[name](11)
    out = layer(x, training=True)
    transforms = layer.transforms(6, 8, 9, np.random.default_rng(11)).astype(np.float32)
    expected = ref.affine_sample(x, transforms, 8, 9, layer.interpolation, layer.fill_mode, layer.fill_value)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=2e-3)


def test_contrast_draws_keras_documented_range(rng):
    x = images(rng, (300, 4, 4, 1)) * 0.5 + 60
    out = RandomContrast((0.2, 0.6), seed=4)(x, training=True)
    centred = x - x.mean(axis=(1, 2), keepdims=True)
    factors = (out - out.mean(axis=(1, 2), keepdims=True)).std(axis=(1, 2)) / centred.std(axis=(1, 2))
    assert 0.8 <= factors.min() < 0.85 and 1.55 < factors.max() <= 1.6
    factors = np.random.default_rng(4).uniform(0.8, 1.6, 300).astype(np.float32)
    np.testing.assert_allclose(out, ref.contrast(x, factors, 0, 255), rtol=1e-5, atol=1e-3)
    clipped = RandomContrast(1.0, value_range=(0, 1), seed=1)(rng.uniform(0, 1, (8, 5, 5, 3)).astype(np.float32),
                                                              training=True)
    assert clipped.min() >= 0 and clipped.max() <= 1


TF_WINDOW_RESIZE = {  # tf.image.resize of Keras's centred window of the 3x4 image (arange(12) ** 1.5)
    (2, 3): [[0.16667, 1.91421, 4.80153], [8.53006, 12.93864, 17.88304]],
    (5, 6): [[0.0, 0.25, 0.75, 1.45711, 2.37132, 2.82843], [3.2, 3.66803, 4.6041, 5.69806, 6.94991, 7.57583],
             [8.0, 8.79508, 10.38526, 12.05949, 13.81779, 14.69694],
             [16.77645, 17.75037, 19.69822, 21.71721, 23.80737, 24.85244],
             [22.62742, 23.72056, 25.90686, 28.15569, 30.46708, 31.62278]],
}


def test_random_crop_windows_and_keras_inference():
    image = (np.arange(12, dtype=np.float32) ** 1.5).reshape(1, 3, 4, 1)
    for size, expected in TF_WINDOW_RESIZE.items():
        out = RandomCrop(*size)(image)
        np.testing.assert_allclose(out[0, :, :, 0], expected, atol=2e-5)
        # an image smaller than the target takes the same path while training
        assert np.array_equal(RandomCrop(*size, seed=1)(image, training=True), out) or size == (2, 3)
    wide = np.arange(6 * 8, dtype=np.float32).reshape(1, 6, 8, 1)
    assert np.array_equal(RandomCrop(6, 6)(wide), wide[:, :, 1:7])  # a plain centred crop
    x = np.arange(20 * 9 * 10 * 2, dtype=np.float32).reshape(20, 9, 10, 2)
    out = RandomCrop(4, 5, seed=2)(x, training=True)
    tops, lefts = set(), set()
    for image, window in zip(x, out):
        top, left = divmod(int(window[0, 0, 0] - image[0, 0, 0]) // 2, 10)
        tops.add(top)
        lefts.add(left)
        assert np.array_equal(window, image[top:top + 4, left:left + 5])
    assert len(tops) > 1 and len(lefts) > 1  # each image its own window


@pytest.mark.parametrize("name", list(LAYERS))
def test_backward_finite_differences(name, rng):
    layer = LAYERS[name](3)
    shape = (2, 8, 9, 2)
    x = rng.uniform(60, 190, shape).astype(np.float32)  # contrast stays inside (0, 255): no clipping kinks
    output = (2, 5, 6, 2) if name == "crop" else shape

    def replay():
        layer._rng = np.random.default_rng(3)
    # the maps are (piecewise) linear in x, so a wide step is exact and keeps float32 rounding small
    check_layer(layer, shape, output, 0, x=x, before_forward=replay, eps=0.25 if name == "contrast" else 1e-2,
                atol=5e-3)
    check_layer(LAYERS["crop"](None), (2, 7, 12, 1), (2, 5, 6, 1), 0, training=False, eps=1e-2, atol=5e-3)


def test_augmentation_in_a_model_is_reproducible_and_inert_at_predict(rng):
    x = images(rng, (64, 8, 8, 1)) / 255
    y = rng.integers(0, 3, 64)

    def train():
        fastnn.set_seed(9)
        model = fastnn.Sequential([Input((8, 8, 1)), RandomFlip(), RandomRotation(0.1), RandomZoom(0.1),
                                   RandomContrast(0.2, value_range=(0, 1)), Flatten(), Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        return model
    first, second = train(), train()
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    bare = fastnn.Sequential([Input((8, 8, 1)), Flatten(), Dense(3, activation="softmax")])
    bare.set_weights(first.get_weights())
    assert np.array_equal(first.predict(x, verbose=0), bare.predict(x, verbose=0))


def test_augmentation_after_a_trained_layer(rng):
    inputs = Input((12,))
    hidden = fastnn.layers.Reshape((2, 3, 2))(Dense(12)(inputs))
    out = Dense(1)(Flatten()(RandomRotation(0.2, seed=1)(RandomFlip(seed=2)(hidden))))
    model = fastnn.Model(inputs, out)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()[0].copy()
    model.fit(rng.standard_normal((32, 12)), rng.standard_normal(32), epochs=1, verbose=0)
    assert not np.array_equal(before, model.get_weights()[0])


def test_config_round_trip_and_errors():
    for make in LAYERS.values():
        layer = make(3)
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    with pytest.raises(ValueError, match="batches of images"):
        RandomFlip()(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="factor must lie"):
        RandomRotation(1.5)
    with pytest.raises(ValueError, match="fill_mode"):
        RandomZoom(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="channels_last"):
        RandomTranslation(0.1, 0.1, data_format="channels_first")
    with pytest.raises(ValueError, match="factor must be"):
        RandomContrast(1.5)
    with pytest.raises(ValueError, match="shrink"):
        RandomZoom(-1.0)
    with pytest.raises(ValueError, match="seed"):
        RandomFlip(seed=-1)
    with pytest.raises(ValueError, match="mode"):
        RandomFlip("diagonal")
    assert RandomCrop(3, 4).compute_output_shape((None, 10, 10, 3)) == (None, 3, 4, 3)
    assert _C.FLIP_COLUMNS != _C.FLIP_ROWS
