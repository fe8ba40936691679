"""Batch normalization ops against float64 NumPy, finite differences and PyTorch, under every SIMD
path and 1 and 2 threads; folding into the layer before it."""
import numpy as np
import pytest

import fastnn

import reference as ref

SHAPES = [(1, 1), (7, 3), (4, 5, 6, 17), (32, 9, 9, 70), (3, 11, 129)]


@pytest.mark.parametrize("shape", SHAPES)
def test_training_forward_and_backward_match_reference(simd, nthreads, rng, shape):
    c = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    gamma, beta = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    moving_mean, moving_var = np.zeros(c, np.float32), np.ones(c, np.float32)
    y, mean, invstd = fastnn.ops.batch_norm_forward(x, gamma, beta, moving_mean=moving_mean,
                                                    moving_variance=moving_var, momentum=0.9)
    y_ref, mean_ref, var_ref = ref.batch_norm(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(var_ref + 1e-3), rtol=1e-6)
    np.testing.assert_allclose(moving_mean, 0.1 * mean_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(moving_var, 0.9 + 0.1 * var_ref, rtol=1e-6)
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dgamma, dbeta = fastnn.ops.batch_norm_backward(x, dy, gamma, mean, invstd)
    for mine, theirs in zip((dx, dgamma, dbeta), ref.batch_norm_grad(x, dy, gamma, 1e-3)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)


def test_variance_keeps_its_digits_under_a_large_mean(rng):
    x = (1000 + rng.standard_normal((4096, 3)) * 0.01).astype(np.float32)
    _, mean, invstd = fastnn.ops.batch_norm_forward(x, epsilon=0.0)
    np.testing.assert_allclose(1 / invstd ** 2, x.astype(np.float64).var(axis=0), rtol=1e-5)


def test_finite_differences(rng):
    x = rng.standard_normal((3, 2, 4)) * 2
    gamma, beta, probe = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((3, 2, 4))

    def objective():
        return float(np.sum(np.tanh(ref.batch_norm(x, gamma, beta, 1e-3)[0]) * probe))

    y, mean, invstd = fastnn.ops.batch_norm_forward(x, gamma, beta)
    dy = probe * (1 - np.tanh(ref.batch_norm(x, gamma, beta, 1e-3)[0]) ** 2)
    grads = fastnn.ops.batch_norm_backward(x, dy, gamma, mean, invstd)
    for grad, numeric in zip(grads, ref.numeric_gradients(objective, [x, gamma, beta])):
        np.testing.assert_allclose(grad, numeric, rtol=2e-3, atol=2e-4)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 5, 6, 7)).astype(np.float32)
    gamma, beta = rng.standard_normal(7).astype(np.float32), rng.standard_normal(7).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    xt = torch.tensor(x.transpose(0, 3, 1, 2).astype(np.float64), requires_grad=True)
    gt = torch.tensor(gamma.astype(np.float64), requires_grad=True)
    bt = torch.tensor(beta.astype(np.float64), requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-3)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).astype(np.float64)))
    y, mean, invstd = fastnn.ops.batch_norm_forward(x, gamma, beta)
    dx, dgamma, dbeta = fastnn.ops.batch_norm_backward(x, dy, gamma, mean, invstd)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_threads_do_not_change_bits(simd, rng):
    x = rng.standard_normal((32, 28, 28, 32)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            y, mean, invstd = fastnn.ops.batch_norm_forward(x, np.ones(32), np.zeros(32))
            results.append((y, mean, invstd, *fastnn.ops.batch_norm_backward(x, dy, np.ones(32), mean, invstd),
                            fastnn.ops.batch_norm_inference(x, None, None, mean, invstd)))
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def test_without_scale_or_center_and_skipped_gradients(rng):
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y, mean, invstd = fastnn.ops.batch_norm_forward(x)
    np.testing.assert_allclose(y, ref.batch_norm(x, 1.0, 0.0, 1e-3)[0], rtol=1e-5, atol=1e-5)
    dx, dgamma, dbeta = fastnn.ops.batch_norm_backward(x, y, None, mean, invstd, out=(None, np.empty(4, np.float32),
                                                                                     None))
    assert dx is None and dbeta is None
    np.testing.assert_allclose(dgamma, (y.astype(np.float64) * ref.batch_norm(x, 1, 0, 1e-3)[0]).sum(0), rtol=1e-4)


def test_inference_uses_the_moving_statistics(simd, rng):
    x = rng.standard_normal((5, 3, 8)).astype(np.float32)
    g, b, m = (rng.standard_normal(8).astype(np.float32) for _ in range(3))
    v = rng.random(8).astype(np.float32) + 0.5
    y = fastnn.ops.batch_norm_inference(x, g, b, m, v, epsilon=0.01)
    np.testing.assert_allclose(y, (x - m.astype(np.float64)) / np.sqrt(v + 0.01) * g + b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["dense", "conv", "depthwise", "conv_transpose"])
def test_folded_layer_predicts_as_layer_then_normalization(rng, kind):
    x = rng.standard_normal((3, 6, 6, 4)).astype(np.float32)
    if kind == "dense":
        kernel, forward = rng.standard_normal((4, 5)), lambda k, b: fastnn.ops.dense(x.reshape(-1, 4), k, b)
    elif kind == "conv":
        kernel, forward = rng.standard_normal((3, 3, 4, 5)), lambda k, b: fastnn.ops.conv2d(x, k, b, padding="same")
    elif kind == "depthwise":
        kernel, forward = rng.standard_normal((3, 3, 4, 2)), lambda k, b: fastnn.ops.depthwise_conv2d(x, k, b)
    else:
        kernel, forward = rng.standard_normal((3, 3, 5, 4)), lambda k, b: fastnn.ops.conv2d_transpose(x, k, b)
    kernel = kernel.astype(np.float32)
    c = {"dense": 5, "conv": 5, "depthwise": 8, "conv_transpose": 5}[kind]
    bias = rng.standard_normal(c).astype(np.float32)
    g, b, m = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    v = rng.random(c).astype(np.float32) + 0.1
    unfolded = fastnn.ops.batch_norm_inference(forward(kernel, bias), g, b, m, v)
    folded_kernel, folded_bias = fastnn.ops.batch_norm_fold(kernel, bias, g, b, m, v, kind=kind)
    np.testing.assert_allclose(forward(folded_kernel, folded_bias), unfolded, rtol=1e-5, atol=1e-5)
    assert np.array_equal(folded_kernel.shape, kernel.shape)


@pytest.mark.parametrize("call,error,words", [
    (lambda x: fastnn.ops.batch_norm_forward(x[0, 0, 0]), ValueError, ["at least 2-D"]),
    (lambda x: fastnn.ops.batch_norm_forward(x, np.ones(3)), ValueError, ["gamma", "(4,)"]),
    (lambda x: fastnn.ops.batch_norm_forward(x, moving_mean=np.zeros(4)), TypeError, ["moving_mean", "float32"]),
    (lambda x: fastnn.ops.batch_norm_backward(x, x[:1], None, np.zeros(4), np.ones(4)), ValueError, ["dy"]),
    (lambda x: fastnn.ops.batch_norm_inference(x, None, None, None, np.ones(4)), ValueError, ["moving_mean"]),
    (lambda x: fastnn.ops.batch_norm_fold(np.ones((3, 4)), None, None, None, np.zeros(4), np.ones(4),
                                          kind="lstm"), ValueError, ["kind"]),
])
def test_errors(rng, call, error, words):
    x = rng.standard_normal((2, 3, 3, 4)).astype(np.float32)
    with pytest.raises(error) as info:
        call(x)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("epsilon", [-1.0, float("nan"), float("inf")])
def test_epsilon_must_be_finite_and_not_negative(epsilon):
    x, ones = np.ones((2, 3), np.float32), np.ones(3, np.float32)
    calls = [lambda: fastnn.ops.batch_norm_forward(x, epsilon=epsilon),
             lambda: fastnn.ops.batch_norm_inference(x, None, None, ones, ones, epsilon=epsilon),
             lambda: fastnn.ops.batch_norm_fold(np.ones((1, 1, 2, 3), np.float32), None, None, None, ones, ones,
                                                epsilon=epsilon),
             lambda: fastnn.layers.BatchNormalization(epsilon=epsilon)]
    for call in calls:
        with pytest.raises(ValueError, match="epsilon"):
            call()


@pytest.mark.parametrize("channels", [-5, 2**62])
def test_scratch_size_refuses_negative_and_overflowing_channels(channels):
    with pytest.raises(ValueError, match="channels"):
        fastnn.ops.batch_norm_scratch_size(channels)
