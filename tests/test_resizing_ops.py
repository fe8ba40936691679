"""Upsampling (nearest, bilinear), zero padding and cropping: forward against float64 NumPy and
PyTorch, backward as the adjoint, under every SIMD path and 1 and 2 threads."""
import numpy as np
import pytest

import fastnn

import reference as ref


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape,size", [((1, 1, 1, 1), (2, 2)), ((2, 5, 7, 3), (2, 3)), ((3, 4, 4, 33), (3, 1)),
                                        ((1, 6, 2, 70), (1, 4))])
def test_upsampling_matches_reference(simd, nthreads, rng, interpolation, shape, size):
    x = rng.standard_normal(shape).astype(np.float32)
    y = fastnn.ops.upsampling2d(x, size, interpolation)
    np.testing.assert_allclose(y, ref.upsample(x, size, interpolation), rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = fastnn.ops.upsampling2d_backward(dy, size, interpolation)
    np.testing.assert_allclose(dx, ref.upsample_backward(dy, size, interpolation), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_matches_torch(rng, interpolation):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    xt = torch.tensor(x.transpose(0, 3, 1, 2))
    kw = {"align_corners": False} if interpolation == "bilinear" else {}
    expected = torch.nn.functional.interpolate(xt, scale_factor=(2, 3), mode=interpolation, **kw)
    np.testing.assert_allclose(fastnn.ops.upsampling2d(x, (2, 3), interpolation),
                               expected.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_threads_do_not_change_bits(simd, rng, interpolation):
    x = rng.standard_normal((4, 30, 30, 16)).astype(np.float32)
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            y = fastnn.ops.upsampling2d(x, 2, interpolation)
            results.append((y, fastnn.ops.upsampling2d_backward(y, 2, interpolation)))
    for one, two in zip(*results):
        assert np.array_equal(one, two)


@pytest.mark.parametrize("margins", [1, (2, 0), ((1, 2), (0, 3))])
def test_zero_padding_and_cropping_undo_each_other(rng, margins):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    padded = fastnn.ops.zero_padding2d(x, margins)
    assert np.array_equal(fastnn.ops.cropping2d(padded, margins), x)
    assert np.array_equal(fastnn.ops.zero_padding2d_backward(padded, margins), x)
    assert np.array_equal(fastnn.ops.cropping2d_backward(x, margins), padded)
    assert padded.sum() == pytest.approx(x.sum(), rel=1e-5)


@pytest.mark.parametrize("call,words", [
    (lambda x: fastnn.ops.upsampling2d(x, 0), ["size", ">= 1"]),
    (lambda x: fastnn.ops.upsampling2d(x, 2, "bicubic"), ["interpolation"]),
    (lambda x: fastnn.ops.upsampling2d_backward(x, 2), ["not an upsampling"]),
    (lambda x: fastnn.ops.cropping2d(x, 2), ["leaves nothing"]),
    (lambda x: fastnn.ops.zero_padding2d(x, (1, 2, 3)), ["padding"]),
])
def test_errors(rng, call, words):
    x = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    with pytest.raises(ValueError) as info:
        call(x)
    for word in words:
        assert word in str(info.value)
