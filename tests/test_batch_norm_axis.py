"""BatchNormalization over a channel axis other than the last (axis=1 on (N, C, L) data, as channels_first
code puts it): training and inference against float64 references and torch, thread-count independence,
save and load, ONNX export, and fold_batchnorm leaving such a normalization in place."""
import numpy as np
import pytest

import fastnn
import reference as ref
from fastnn.engine.context import CallContext
from fastnn.layers import BatchNormalization, Conv1D, Dense, Flatten
from layer_helpers import check_layer

CASES = [((6, 5, 7), 1), ((3, 4, 5, 2), 1), ((3, 4, 5, 2), 2), ((3, 4, 5, 2), -3), ((2, 3, 1, 4, 5), 3),
         ((9, 4), 1)]


def _layer(shape, axis, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    layer = BatchNormalization(axis=axis, momentum=0.8, **kwargs)
    layer.build((None,) + shape[1:])
    c = shape[axis]
    layer.set_weights([rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
                       rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32)])
    return layer


@pytest.mark.parametrize("shape, axis", CASES)
def test_training_forward_backward_and_moving_statistics_match_float64(shape, axis, nthreads, simd):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    layer = _layer(shape, axis)
    gamma, beta, mm, mv = (w.copy() for w in layer.get_weights())
    ctx = CallContext(True)
    y = layer.forward(ctx, x)
    expected, mean, var = ref.batch_norm(x, gamma, beta, 1e-3, axis)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean, 0.8 * mm + 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance, 0.8 * mv + 0.2 * var, rtol=1e-5)
    ctx.need_dx, ctx.accumulate = True, False
    dx = layer.backward(ctx, dy)
    dx_ref, dgamma_ref, dbeta_ref = ref.batch_norm_grad(x, dy, gamma, 1e-3, axis)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer._grads[0], dgamma_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer._grads[1], dbeta_ref, rtol=1e-4, atol=1e-5)
    inference = layer(x)
    invstd = 1 / np.sqrt(layer.moving_variance.astype(np.float64) + 1e-3)
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    np.testing.assert_allclose(inference, np.moveaxis((moved - layer.moving_mean) * invstd * gamma + beta, -1, axis),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, axis", [((5, 3, 200), 1), ((7, 2, 33, 3), 1), ((4, 6, 129), -2)])
def test_statistics_do_not_depend_on_threads_or_simd_path(shape, axis, simd):
    """Runs longer than a summation block (64) and of odd lengths; 1 and 2 threads bitwise equal."""
    x = (np.random.default_rng(2).standard_normal(shape) * 4 + 3).astype(np.float32)
    dy = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            layer = _layer(shape, axis)
            ctx = CallContext(True)
            y = layer.forward(ctx, x).copy()
            ctx.need_dx, ctx.accumulate = True, False
            results.append([y, layer.backward(ctx, dy).copy()] + [g.copy() for g in layer._grads if g is not None]
                           + layer.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    gamma = _layer(shape, axis).gamma
    np.testing.assert_allclose(results[0][0], ref.batch_norm(x, gamma, _layer(shape, axis).beta, 1e-3, axis)[0],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(results[0][1], ref.batch_norm_grad(x, dy, gamma, 1e-3, axis)[0], rtol=1e-4, atol=1e-5)


def test_matches_torch_batch_norm_on_channels_first_data():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 5, 11)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    layer = _layer(x.shape, 1)
    gamma, beta, mm, mv = (w.copy() for w in layer.get_weights())
    ctx = CallContext(True)
    y = layer.forward(ctx, x)
    ctx.need_dx, ctx.accumulate = True, False
    dx = layer.backward(ctx, dy)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    t_mm, t_mv = torch.tensor(mm, dtype=torch.float64), torch.tensor(mv, dtype=torch.float64)
    ty = torch.nn.functional.batch_norm(tx, t_mm, t_mv, torch.tensor(gamma, dtype=torch.float64),
                                        torch.tensor(beta, dtype=torch.float64), training=True, momentum=0.2,
                                        eps=1e-3)
    ty.backward(torch.tensor(dy, dtype=torch.float64))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean, t_mm.numpy(), rtol=1e-5, atol=1e-6)
    rows = x.size // x.shape[1]  # torch moves towards the unbiased variance, Keras the biased one
    np.testing.assert_allclose(layer.moving_variance, 0.8 * mv + 0.2 * (t_mv.numpy() - 0.8 * mv) / 0.2
                               * (rows - 1) / rows, rtol=1e-5)


def _channels_first_model():
    fastnn.set_seed(0)
    return fastnn.Sequential([fastnn.Input((5, 6)), BatchNormalization(axis=1), Conv1D(3, 2),
                              BatchNormalization(axis=1), Flatten(), Dense(2)])


def test_trains_saves_loads_and_keeps_its_config(tmp_path):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((32, 5, 6)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    model = _channels_first_model()
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model.layers[0].get_config()["axis"] == 1 and model.layers[2].moving_mean.shape == (4,)
    model.save(tmp_path / "cf.fnn")
    loaded = fastnn.load_model(tmp_path / "cf.fnn")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_inference_backward_on_another_axis_is_the_affine_maps():
    layer = _layer((5, 3, 4), 1)
    check_layer(layer, (5, 3, 4), (5, 3, 4), 12, training=False)


def test_fold_batchnorm_leaves_a_normalization_over_another_axis_in_place():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 5, 6)).astype(np.float32)
    model = _channels_first_model()
    model.compile("adam", "mse")
    model.fit(x, rng.standard_normal((16, 2)), epochs=2, verbose=0)
    folded = fastnn.optimize.fold_batchnorm(model)
    assert [type(layer).__name__ for layer in folded.layers].count("BatchNormalization") == 2
    np.testing.assert_array_equal(folded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("shape, axis", [((4, 6), 1), ((4, 5, 3), 1), ((4, 5, 3), 2)])
def test_onnx_export_of_a_normalization_over_another_axis(shape, axis, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from fastnn.export.verify import TOLERANCE

    model = fastnn.Sequential([fastnn.Input(shape), BatchNormalization(axis=axis)])
    layer = model.layers[0]
    full = (1,) + shape
    layer.set_weights(_layer(full, axis).get_weights())
    report = model.export(tmp_path / "bn.onnx")
    assert all(0.0 <= diff <= TOLERANCE for diff in report.values()), report


def _guarded(shape):
    """A float32 array of shape inside a buffer with NaN guards on each side: (array, buffer)."""
    buffer = np.full(int(np.prod(shape)) + 8, np.nan, np.float32)
    return buffer[4:-4].reshape(shape), buffer


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 2, 1), (2, 3, 5), (4, 2, 63), (3, 1, 65), (2, 4, 130)])
def test_kernels_on_runs_against_float64_with_guards(shape, simd, nthreads):
    from fastnn import _C

    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 2 + 500).astype(np.float32)  # a large mean: the shift keeps the digits
    dy = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    gamma, beta = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    y, y_buffer = _guarded(shape)
    dx, dx_buffer = _guarded(shape)
    mean, invstd = np.empty(c, np.float32), np.empty(c, np.float32)
    scratch = np.empty(_C.batch_norm_scratch_floats(c), np.float32)
    _C.batch_norm_forward_train(x, gamma, beta, 1e-3, y, mean, invstd, None, None, 0.9, scratch)
    dgamma, dbeta = np.empty(c, np.float32), np.empty(c, np.float32)
    _C.batch_norm_backward(x, dy, gamma, mean, invstd, dx, dgamma, dbeta, scratch)
    y_ref, mean_ref, var_ref = ref.batch_norm(x, gamma, beta, 1e-3, axis=1)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-6)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(var_ref + 1e-3), rtol=1e-4)
    for mine, theirs in zip((dx, dgamma, dbeta), ref.batch_norm_grad(x, dy, gamma, 1e-3, axis=1)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-3)
    moving_mean, moving_var = rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 2, c).astype(np.float32)
    inference, _ = _guarded(shape)
    _C.batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, 1e-3, inference, scratch)
    expected = (x - moving_mean[:, None]) / np.sqrt(moving_var[:, None] + 1e-3) * gamma[:, None] + beta[:, None]
    np.testing.assert_allclose(inference, expected, rtol=1e-5, atol=1e-3)
    for buffer in (y_buffer, dx_buffer):
        assert np.isnan(buffer[:4]).all() and np.isnan(buffer[-4:]).all()


def test_kernels_refuse_bad_layouts():
    from fastnn import _C

    scratch = np.empty(_C.batch_norm_scratch_floats(2), np.float32)
    for x in (np.ones((2, 2, 2, 2), np.float32), np.ones((2, 2, 0), np.float32), np.ones(4, np.float32)):
        with pytest.raises(ValueError, match="batch_norm_forward_infer"):
            _C.batch_norm_forward_infer(x, None, None, np.zeros(2, np.float32), np.ones(2, np.float32), 1e-3,
                                        np.empty_like(x), scratch)
    x = np.ones((2, 3, 2), np.float32)
    y = np.full((2, 3, 2), np.nan, np.float32)
    x[1, 2, 1] = np.nan
    _C.batch_norm_forward_train(x, None, None, 1e-3, y, np.empty(3, np.float32), np.empty(3, np.float32), None, None,
                                0.9, np.empty(_C.batch_norm_scratch_floats(3), np.float32))
    assert np.isnan(y[:, 2]).all() and not np.isnan(y[:, :2]).any()  # NaN stays in its channel
