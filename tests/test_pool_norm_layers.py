"""Pooling, BatchNormalization and the small image layers (ZeroPadding2D, Cropping2D, UpSampling2D,
SpatialDropout2D): outputs against tests/reference.py with Keras's semantics, backward by finite
differences, masks through GlobalAveragePooling1D, frozen BN, fastnn.optimize.fold_batchnorm, errors."""
import numpy as np
import pytest

import fastnn
import reference as ref
from fastnn.engine.context import CallContext
from fastnn.layers import (Activation, Add, AveragePooling1D, AveragePooling2D, BatchNormalization, Conv1D, Conv2D,
                           Conv2DTranspose, Cropping2D, Dense, DepthwiseConv2D, GlobalAveragePooling1D,
                           GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Masking, MaxPooling1D,
                           MaxPooling2D, SeparableConv2D, SpatialDropout2D, UpSampling2D, ZeroPadding2D)
from layer_helpers import check_layer


@pytest.mark.parametrize("cls, kind", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "same")])
def test_pooling_2d_matches_the_reference(cls, kind, pool, strides, padding):
    x = np.random.default_rng(0).standard_normal((2, 7, 8, 3)).astype(np.float32)
    layer = cls(pool, strides, padding)
    pool2 = layer.pool_size
    axes = [ref.keras_window(x.shape[1 + a], pool2[a], layer.strides[a], padding) for a in range(2)]
    out_hw, pads = (axes[0][0], axes[1][0]), (axes[0][1], axes[1][1])
    y = check_layer(layer, x.shape, (2, *out_hw, 3), 0, x=x)
    np.testing.assert_allclose(y, ref.pool2d(x, kind, pool2, layer.strides, pads, out_hw), rtol=1e-6, atol=1e-6)
    ctx = CallContext(True)
    layer.forward(ctx, x)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(ctx, dy), ref.pool2d_backward(x, dy, kind, pool2, layer.strides, pads),
                               rtol=1e-6, atol=1e-6)


def test_same_average_excludes_the_padded_cells_and_1d_pools():
    x = np.arange(1, 6, dtype=np.float32).reshape(1, 5, 1)
    np.testing.assert_allclose(AveragePooling1D(2, padding="same")(x)[0, :, 0], [1.5, 3.5, 5.0])  # not 2.5
    np.testing.assert_allclose(MaxPooling1D(3, 1)(x)[0, :, 0], [3, 4, 5])
    check_layer(MaxPooling1D(2, padding="same"), (2, 7, 3), (2, 4, 3), 0)
    check_layer(AveragePooling1D(3, 2), (2, 7, 3), (2, 3, 3), 0)
    assert MaxPooling2D().get_config()["strides"] == [2, 2]
    config = AveragePooling1D(3).get_config()
    assert config["name"].startswith("average_pooling1d")
    assert {k: config[k] for k in ("pool_size", "padding", "strides", "data_format")} == dict(
        pool_size=[3], padding="valid", strides=[3], data_format="channels_last")


@pytest.mark.parametrize("cls, rank, reduce", [(GlobalMaxPooling2D, 2, np.max), (GlobalAveragePooling2D, 2, np.mean),
                                               (GlobalMaxPooling1D, 1, np.max), (GlobalAveragePooling1D, 1, np.mean)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(cls, rank, reduce, keepdims):
    shape = (3, 4, 5, 2) if rank == 2 else (3, 6, 2)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    out = (3,) + (1,) * rank * keepdims + (2,)
    y = check_layer(cls(keepdims=keepdims), shape, out, 0, x=x)
    np.testing.assert_allclose(y, reduce(x.astype(np.float64), axis=tuple(range(1, rank + 1)), keepdims=keepdims),
                               rtol=1e-6, atol=1e-7)


def test_global_average_pooling_1d_averages_only_unmasked_steps():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], bool)
    layer = GlobalAveragePooling1D()
    layer.build((None, 5, 2))
    ctx = CallContext(True)
    ctx.mask = mask
    y = layer.forward(ctx, x)
    expected = (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(ctx, dy), dy[:, None] * mask[..., None] / mask.sum(1)[:, None, None],
                               rtol=1e-6)
    assert layer.compute_mask(x, mask) is None
    # in a model: Masking makes the mask from the padded steps, which then do not count
    padded = x.copy()
    padded[~mask] = 0.0
    inp = fastnn.Input((5, 2))
    model = fastnn.Model(inp, GlobalAveragePooling1D()(Masking(0.0)(inp)))
    np.testing.assert_allclose(model.predict(padded, verbose=0), expected, rtol=1e-6)


def test_batch_normalization_training_inference_and_moving_statistics():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((4, 3, 3, 5)) * 2 + 1).astype(np.float32)
    layer = BatchNormalization(momentum=0.9)
    layer.build((None, 3, 3, 5))
    gamma, beta = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    mm, mv = rng.standard_normal(5).astype(np.float32), (rng.random(5) + 0.5).astype(np.float32)
    layer.set_weights([gamma, beta, mm, mv])
    np.testing.assert_allclose(layer(x), (x - mm) / np.sqrt(mv.astype(np.float64) + 1e-3) * gamma + beta,
                               rtol=1e-5, atol=1e-5)
    expected, mean, var = ref.batch_norm(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean, 0.9 * mm + 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance, 0.9 * mv + 0.1 * var, rtol=1e-5)
    assert [(n, t) for n, t in zip(layer._weight_names, layer._weight_trainable)] == [
        ("gamma", True), ("beta", True), ("moving_mean", False), ("moving_variance", False)]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    check_layer(BatchNormalization(), (6, 4), (6, 4), 16)
    check_layer(BatchNormalization(center=False, epsilon=0.01), (2, 3, 3, 2), (2, 3, 3, 2), 6)
    config = BatchNormalization().get_config()
    assert (config["axis"], config["momentum"], config["epsilon"], config["center"], config["scale"]) == (
        -1, 0.99, 1e-3, True, True)


def test_frozen_batch_normalization_runs_in_inference_mode():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 4, 4, 3)).astype(np.float32)
    model = fastnn.Sequential([Conv2D(3, 3, padding="same", input_shape=(4, 4, 3)), BatchNormalization(),
                               GlobalAveragePooling2D(), Dense(2)])
    bn = model.layers[1]
    bn.trainable = False
    model.compile(optimizer=fastnn.optimizers.SGD(0.1), loss="mse")
    before = bn.get_weights()
    inference = model.predict(x, verbose=0)
    model.fit(x, np.zeros((8, 2)), epochs=2, verbose=0)
    for a, b in zip(bn.get_weights(), before):  # neither trained nor moved
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.predict(x, verbose=0), inference)  # the other layers trained
    # a training-mode call of the frozen layer equals its inference, and its backward is the affine map's
    ctx = CallContext(True)
    y = bn.forward(ctx, x)
    np.testing.assert_array_equal(y, bn.forward(CallContext(False), x))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(bn.backward(ctx, dy), dy * bn.gamma / np.sqrt(bn.moving_variance + 1e-3), rtol=1e-6)


def test_inference_call_of_a_trainable_batch_normalization_has_the_affine_gradients():
    layer = BatchNormalization()
    layer.build((None, 3))
    layer.set_weights([np.array([1.5, -2, 0.5], np.float32), np.zeros(3, np.float32),
                       np.array([0.1, 0.2, 0.3], np.float32), np.array([2, 3, 4], np.float32)])
    check_layer(layer, (5, 3), (5, 3), 12, training=False)


@pytest.mark.parametrize("layer, shape, out_shape, forward", [
    (lambda: ZeroPadding2D(((1, 2), (0, 3))), (2, 3, 4, 2), (2, 6, 7, 2),
     lambda x: np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0)))),
    (lambda: ZeroPadding2D(1), (1, 2, 2, 1), (1, 4, 4, 1), lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    (lambda: Cropping2D(((1, 0), (2, 1))), (2, 5, 6, 2), (2, 4, 3, 2), lambda x: x[:, 1:, 2:5]),
    (lambda: UpSampling2D((2, 3)), (2, 3, 2, 2), (2, 6, 6, 2), lambda x: ref.upsample(x, (2, 3), "nearest")),
    (lambda: UpSampling2D(2, interpolation="bilinear"), (2, 3, 4, 2), (2, 6, 8, 2),
     lambda x: ref.upsample(x, (2, 2), "bilinear")),
])
def test_small_image_layers(layer, shape, out_shape, forward):
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    y = check_layer(layer(), shape, out_shape, 0, x=x)
    np.testing.assert_allclose(y, forward(x.astype(np.float64)), rtol=1e-6, atol=1e-6)


def test_spatial_dropout_drops_whole_feature_maps():
    x = np.ones((4, 5, 5, 16), np.float32)
    layer = SpatialDropout2D(0.5, seed=1)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    y = layer(x, training=True)
    per_map = y.reshape(4, 25, 16)
    assert np.all(per_map == per_map[:, :1]) and set(np.unique(y)) == {0.0, 2.0}
    assert layer.get_config()["data_format"] == "channels_last" and "noise_shape" not in layer.get_config()
    with pytest.raises(ValueError, match="height, width, channels"):
        SpatialDropout2D(0.1).build((None, 5, 3))


def test_bad_arguments_are_refused():
    for make in (lambda: MaxPooling2D(data_format="channels_first"),
                 lambda: GlobalAveragePooling2D(data_format="channels_first"),
                 lambda: UpSampling2D(data_format="channels_first")):
        with pytest.raises(ValueError, match="channels_last"):
            make()
    with pytest.raises(ValueError, match="pool_size must be >= 1"):
        MaxPooling2D(0)
    with pytest.raises(ValueError, match="padding"):
        AveragePooling2D(2, padding="full")
    with pytest.raises(ValueError, match="larger than the padded input"):
        MaxPooling2D(4).build((None, 3, 8, 2))
    for axis in (0, 4, -4):
        with pytest.raises(ValueError, match="not a channel axis"):
            BatchNormalization(axis=axis).build((None, 4, 4, 3))
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="interpolation"):
        UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="nothing is left"):
        Cropping2D(2).build((None, 4, 8, 1))
    with pytest.raises(ValueError, match="height, width, channels"):
        GlobalMaxPooling2D().build((None, 4, 3))


FOLDABLE = [lambda: Conv2D(4, 3, padding="same"), lambda: DepthwiseConv2D(3, depth_multiplier=2),
            lambda: SeparableConv2D(5, 3, use_bias=False), lambda: Conv2DTranspose(4, 3, strides=2),
            lambda: Conv2D(6, 3, groups=3, dilation_rate=2, use_bias=False)]


@pytest.mark.parametrize("make", FOLDABLE)
def test_fold_batchnorm_sequential(make):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 7, 7, 3)).astype(np.float32)
    model = fastnn.Sequential([fastnn.Input((7, 7, 3)), make(), BatchNormalization(), Activation("relu"),
                               GlobalAveragePooling2D(), Dense(3), BatchNormalization(),
                               Dense(2, activation="relu"), BatchNormalization()])
    model.compile("adam", "mse")
    model.fit(x, rng.standard_normal((16, 2)), epochs=3, verbose=0)
    folded = fastnn.optimize.fold_batchnorm(model)
    names = [type(layer).__name__ for layer in folded.layers]
    assert names.count("BatchNormalization") == 1  # after Dense(relu): an activation between, so it stays
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert len(model.layers) == 8 and len(folded.layers) == 6  # the original is untouched


@pytest.mark.parametrize("make", [lambda: Conv1D(4, 3, dilation_rate=2, padding="causal"),
                                  lambda: Conv1D(4, 2, strides=2, use_bias=False), lambda: Dense(4, use_bias=False)])
def test_fold_batchnorm_on_sequences(make):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, 9, 3)).astype(np.float32)
    model = fastnn.Sequential([fastnn.Input((9, 3)), make(), BatchNormalization(), GlobalAveragePooling1D(),
                               Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, rng.standard_normal((16, 2)), epochs=3, verbose=0)
    folded = fastnn.optimize.fold_batchnorm(model)
    assert [type(layer).__name__ for layer in folded.layers].count("BatchNormalization") == 0
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_functional_keeps_shared_outputs():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((8, 9, 3)).astype(np.float32)
    inp = fastnn.Input((9, 3))
    seen_twice = Conv1D(4, 3, padding="causal")(inp)
    kept = BatchNormalization()(seen_twice)
    out1 = Add()([seen_twice, kept])  # the conv's output has another reader: this BN stays
    out2 = BatchNormalization()(Conv1D(2, 1)(out1))
    model = fastnn.Model(inp, [out1, out2])
    model.compile("adam", ["mse", "mse"])
    model.fit(x, [rng.standard_normal((8, 9, 4)), rng.standard_normal((8, 9, 2))], epochs=2, verbose=0)
    folded = fastnn.optimize.fold_batchnorm(model)
    assert [type(layer).__name__ for layer in folded.layers].count("BatchNormalization") == 1
    for a, b in zip(folded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="built fastnn model"):
        fastnn.optimize.fold_batchnorm(Dense(2))


@pytest.mark.parametrize("layer, size", [(MaxPooling2D, (2, 2)), (AveragePooling2D, (2, 2)), (MaxPooling1D, (2,)),
                                         (AveragePooling1D, (2,))])
def test_pool_size_defaults_to_two_as_in_keras(layer, size):
    pooling = layer()
    assert pooling.pool_size == size and pooling.strides == size
