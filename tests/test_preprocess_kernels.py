"""The preprocessing kernels (csrc/nn/preprocess.c, csrc/nn/augment.c) against float64 references in
tests/reference.py, TensorFlow's numbers and finite differences: every SIMD path, 1 and 2 threads,
guard values, bitwise equality across thread counts, and bad arguments."""
import numpy as np
import pytest

import fastnn
from fastnn import _C

import reference as ref

FEATURE_SHAPES = [(1, 1, 1), (7, 1, 1), (3, 5, 1), (0, 4, 1), (2, 3, 11), (13, 1, 37), (4099, 17, 1), (65, 7, 131)]


def guarded(shape, fill=np.float32(1234.5)):
    """A C-contiguous view of `shape` in the middle of a bigger buffer, and a check of its margins."""
    n = int(np.prod(shape))
    buf = np.full(n + 32, fill, np.float32)
    view = buf[16:16 + n].reshape(shape)
    return view, lambda: np.all(buf[:16] == fill) and np.all(buf[16 + n:] == fill)


def feature_data(rng, outer, mid, inner):
    x = rng.normal(2.0, 3.0, (outer, mid, inner)).astype(np.float32)
    mean = rng.normal(size=mid).astype(np.float32)
    variance = rng.uniform(0.0, 4.0, mid).astype(np.float32)
    variance[:: 3] = 0.0  # sqrt(0) < eps: the eps branch
    return x, mean, variance


@pytest.mark.parametrize("shape", FEATURE_SHAPES)
@pytest.mark.parametrize("invert", [False, True])
def test_normalize_vs_reference(shape, invert, simd, nthreads, rng):
    outer, mid, inner = shape
    x, mean, variance = feature_data(rng, outer, mid, inner)
    out, untouched = guarded(x.shape)
    _C.normalize_forward(x, mean, variance, inner, 1e-7, invert, out)
    expected = ref.normalize(x, mean[:, None], variance[:, None], invert)
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-6 if invert else 1e-5)
    assert untouched()
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx, untouched = guarded(x.shape)
    _C.normalize_backward(dy, variance, inner, 1e-7, invert, dx)
    scale = np.maximum(np.sqrt(variance.astype(np.float64)), 1e-7)[:, None]
    np.testing.assert_allclose(dx, dy * scale if invert else dy / scale, rtol=2e-6)
    assert untouched()


def test_normalize_matches_keras_float32_formula_bitwise(rng):
    """The kernel does Keras's float32 operations in Keras's order: (x - mean) / max(sqrt(var), eps)."""
    x, mean, variance = feature_data(rng, 33, 9, 1)
    out = _C.normalize_forward(x, mean, variance, 1, 1e-7, False, np.empty_like(x))
    keras = (x - mean[:, None]) / np.maximum(np.sqrt(variance), np.float32(1e-7))[:, None]
    assert np.array_equal(out, keras)


@pytest.mark.parametrize("shape", FEATURE_SHAPES)
def test_rescale_and_impute_vs_reference(shape, simd, nthreads, rng):
    outer, mid, inner = shape
    x, scale, offset = feature_data(rng, outer, mid, inner)
    out, untouched = guarded(x.shape)
    _C.rescale_forward(x, scale, offset, inner, out)
    assert np.array_equal(out, x * scale[:, None] + offset[:, None])  # float32, Keras's order
    assert untouched()
    dy = rng.standard_normal(x.shape).astype(np.float32)
    assert np.array_equal(_C.rescale_backward(dy, scale, inner, np.empty_like(dy)), dy * scale[:, None])

    x[rng.random(x.shape) < 0.3] = np.nan
    out, untouched = guarded(x.shape)
    _C.impute_forward(x, offset, inner, out)
    assert np.array_equal(out, np.where(np.isnan(x), offset[:, None], x))
    assert untouched()
    dx, untouched = guarded(x.shape)
    _C.impute_backward(x, dy, dx)
    assert np.array_equal(dx, np.where(np.isnan(x), 0.0, dy))
    assert untouched()


def test_feature_kernels_in_place_nan_and_threads(rng):
    x, mean, variance = feature_data(rng, 3001, 29, 1)
    x[5, 3] = np.nan
    variance[2] = np.nan
    one = _C.normalize_forward(x, mean, variance, 1, 1e-7, False, np.empty_like(x))
    assert np.isnan(one[5, 3]) and np.isnan(one[:, 2]).all()  # NaN in x or in a statistic stays NaN
    with fastnn.threads(2):
        two = _C.normalize_forward(x, mean, variance, 1, 1e-7, False, np.empty_like(x))
        in_place = x.copy()
        _C.normalize_forward(in_place, mean, variance, 1, 1e-7, False, in_place)
    assert np.array_equal(one, two, equal_nan=True) and np.array_equal(one, in_place, equal_nan=True)


def test_feature_kernel_errors():
    x = np.zeros((4, 6), np.float32)
    stat = np.zeros(6, np.float32)
    with pytest.raises(TypeError, match="normalize_forward"):
        _C.normalize_forward(x.astype(np.float64), stat, stat, 1, 1e-7, False, x)
    with pytest.raises(ValueError, match="does not split"):
        _C.normalize_forward(x, np.zeros(5, np.float32), np.zeros(5, np.float32), 1, 1e-7, False, np.empty_like(x))
    with pytest.raises(ValueError, match="variance has 5 values"):
        _C.normalize_forward(x, stat, np.zeros(5, np.float32), 1, 1e-7, False, np.empty_like(x))
    with pytest.raises(ValueError, match="overlaps"):
        buf = np.zeros(30, np.float32)
        _C.rescale_forward(buf[:24].reshape(4, 6), stat, stat, 1, buf[2:26].reshape(4, 6))
    with pytest.raises(ValueError, match="read-only"):
        out = np.empty_like(x)
        out.flags.writeable = False
        _C.impute_forward(x, stat, 1, out)
    with pytest.raises(ValueError, match="sizes differ"):
        _C.impute_backward(x, np.zeros(5, np.float32), np.zeros(5, np.float32))


def test_fnv1a_vs_python_over_all_utf8_lengths(rng):
    alphabet = ["a", "Z", "0", " ", "\u00e9", "\u07ff", "\u0800", "\u65e5", "\uffff", "\U0001f600", "\U0010ffff"]
    words = ["".join(rng.choice(alphabet, rng.integers(0, 9))) for _ in range(3000)]
    tokens = np.array(words).reshape(100, 30)
    runs = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            runs.append(_C.fnv1a_utf8(tokens, 12345))
    assert np.array_equal(runs[0], runs[1]) and runs[0].dtype == np.uint64 and runs[0].shape == (100, 30)
    assert [int(h) for h in runs[0].reshape(-1)] == [ref.fnv1a64(w, 12345) for w in words]
    assert _C.fnv1a_utf8(np.array([], dtype=str), 1).shape == (0,)
    with pytest.raises(TypeError, match="unicode"):
        _C.fnv1a_utf8(np.array([b"a"]), 1)


# ---- image kernels ------------------------------------------------------------------------------

def random_transforms(rng, n, h, w):
    """Rotations, zooms and shifts that send some points well outside the image."""
    angle = rng.uniform(-np.pi, np.pi, n)
    zoom = rng.uniform(0.6, 1.6, n)
    cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
    cx, cy = (w - 1) / 2, (h - 1) / 2
    shift = rng.uniform(-0.7, 0.7, (n, 2)) * [w, h]
    t = np.stack([cos, -sin, cx - cx * cos + cy * sin + shift[:, 0], sin, cos, cy - cx * sin - cy * cos + shift[:, 1]], 1)
    return t.astype(np.float32)


IMAGE_SHAPES = [(1, 1, 1, 1), (2, 5, 7, 1), (3, 8, 8, 3), (1, 13, 4, 17), (4, 1, 9, 2), (9, 31, 29, 3)]


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("fill_mode", list(_C.FILL_MODES))
@pytest.mark.parametrize("interpolation", list(_C.INTERPOLATIONS))
def test_affine_sample_vs_reference(shape, fill_mode, interpolation, nthreads, rng):
    n, h, w, c = shape
    x = rng.standard_normal(shape).astype(np.float32)
    t = random_transforms(rng, n, h, w)
    out_h, out_w = h + 2, max(w - 1, 1)
    codes = (_C.INTERPOLATIONS[interpolation], _C.FILL_MODES[fill_mode])
    out, untouched = guarded((n, out_h, out_w, c))
    _C.affine_sample(x, t, out, *codes, 0.75)
    expected = ref.affine_sample(x, t, out_h, out_w, interpolation, fill_mode, 0.75)
    # float32 coordinates are off by ~1e-6 pixels, times the slope between neighbouring pixels
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    assert untouched()

    # the backward is the adjoint of the (linear, with fill 0) forward: <A x, g> = <x, A^T g>
    g = rng.standard_normal(out.shape).astype(np.float32)
    dx, untouched = guarded(shape)
    _C.affine_sample_backward(g, t, dx, *codes)
    assert untouched()
    forward = ref.affine_sample(x, t, out_h, out_w, interpolation, fill_mode, 0.0)
    np.testing.assert_allclose(np.sum(forward * g), np.sum(x.astype(np.float64) * dx), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("fill_mode", list(_C.FILL_MODES))
def test_affine_sample_simd_paths_and_threads_bitwise(fill_mode, simd, rng):
    x = rng.standard_normal((6, 40, 37, 3)).astype(np.float32)
    t = random_transforms(rng, 6, 40, 37)
    codes = (_C.INTERPOLATIONS["bilinear"], _C.FILL_MODES[fill_mode])
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            y = _C.affine_sample(x, t, np.empty_like(x), *codes, 0.0)
            d = _C.affine_sample_backward(y, t, np.empty_like(x), *codes)
            results.append((y, d))
    assert all(np.array_equal(a, b) for a, b in zip(*results))


# TensorFlow 2 (ImageProjectiveTransformV3, as keras.ops.image.affine_transform calls it) on
# image[i, j] = (4 i + j) ** 1.5, 3x4x1, rotated by 0.4 rad about the centre and shifted, fill -1.
TF_TRANSFORM = [0.9210609793663025, -0.3894183337688446, 1.107826828956604, 0.3894183337688446, 0.9210609793663025,
                -1.305188536643982]
TF_OUTPUTS = {
    ("reflect", "bilinear"): [[4.35963, 2.89683, 5.07765, 5.19615], [0.71841, 2.2288, 9.16226, 15.64395],
                              [5.00961, 11.27882, 20.75185, 31.18729]],
    ("reflect", "nearest"): [[1.0, 2.82843, 5.19615, 5.19615], [1.0, 2.82843, 5.19615, 18.52026],
                             [8.0, 11.18034, 14.69694, 36.48287]],
    ("constant", "bilinear"): [[-1.0, -0.67177, 1.87867, -0.3102], [0.05832, 2.2288, 9.16226, 7.62837],
                               [5.00961, 11.27882, 20.75185, 28.22048]],
    ("constant", "nearest"): [[-1.0, -1.0, -1.0, -1.0], [1.0, 2.82843, 5.19615, 18.52026],
                              [8.0, 11.18034, 14.69694, 36.48287]],
    ("nearest", "bilinear"): [[1.19715, 2.89683, 5.07765, 5.19615], [0.71841, 2.2288, 9.16226, 15.64395],
                              [5.00961, 11.27882, 20.75185, 31.18729]],
}


@pytest.mark.parametrize("modes", list(TF_OUTPUTS))
def test_affine_sample_matches_tensorflow(modes):
    fill_mode, interpolation = modes
    image = (np.arange(12, dtype=np.float32) ** 1.5).reshape(1, 3, 4, 1)
    out = fastnn.ops.affine_transform(image, TF_TRANSFORM, interpolation=interpolation, fill_mode=fill_mode,
                                      fill_value=-1.0)
    np.testing.assert_allclose(out[0, :, :, 0], TF_OUTPUTS[modes], atol=2e-5)


def test_wrap_is_periodic_across_the_seam():
    """Between the last and the first pixel 'wrap' interpolates them (TensorFlow clamps there instead)."""
    image = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 1, 4, 1)
    out = fastnn.ops.affine_transform(image, [1, 0, -1.5, 0, 1, 0], fill_mode="wrap")
    assert out.reshape(-1).tolist() == [3.5, 2.5, 1.5, 2.5]


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_flip_and_crop_vs_numpy(shape, nthreads, rng):
    n, h, w, c = shape
    x = rng.standard_normal(shape).astype(np.float32)
    flips = rng.integers(0, 4, n).astype(np.int32)
    out, untouched = guarded(shape)
    _C.flip_images(x, flips, out)
    for k in range(n):
        expected = x[k][::-1] if flips[k] & _C.FLIP_ROWS else x[k]
        assert np.array_equal(out[k], expected[:, ::-1] if flips[k] & _C.FLIP_COLUMNS else expected)
    assert untouched()

    out_h, out_w = max(h // 2, 1), max(w - 2, 1)
    offsets = np.stack([rng.integers(0, h - out_h + 1, n), rng.integers(0, w - out_w + 1, n)], 1).astype(np.int64)
    out, untouched = guarded((n, out_h, out_w, c))
    _C.crop_images(x, offsets, out)
    for k, (top, left) in enumerate(offsets):
        assert np.array_equal(out[k], x[k, top:top + out_h, left:left + out_w])
    assert untouched()
    dx, untouched = guarded(shape)
    _C.crop_images_backward(out, offsets, dx)
    for k, (top, left) in enumerate(offsets):
        expected = np.zeros_like(x[k])
        expected[top:top + out_h, left:left + out_w] = out[k]
        assert np.array_equal(dx[k], expected)
    assert untouched()


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_contrast_vs_reference_and_finite_differences(shape, nthreads, rng):
    n, h, w, c = shape
    x = rng.uniform(0, 255, shape).astype(np.float32)
    factors = rng.uniform(0.3, 1.8, n).astype(np.float32)
    means = np.empty((n, c), np.float32)
    out, untouched = guarded(shape)
    _C.contrast_forward(x, factors, 20.0, 230.0, means, out)
    np.testing.assert_allclose(out, ref.contrast(x, factors, 20.0, 230.0), rtol=1e-5, atol=2e-4)
    np.testing.assert_allclose(means, x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-6)
    assert untouched()

    dy = rng.standard_normal(shape)
    dx, untouched = guarded(shape)
    _C.contrast_backward(x, factors, means, 20.0, 230.0, dy.astype(np.float32), dx)
    assert untouched()
    x64, probe = x.astype(np.float64), rng.choice(x.size, size=min(x.size, 12), replace=False)
    for flat in probe:
        step = np.zeros(x.size)
        step[flat] = 1e-3
        step = step.reshape(shape)
        plus = np.sum(ref.contrast(x64 + step, factors, 20.0, 230.0) * dy)
        minus = np.sum(ref.contrast(x64 - step, factors, 20.0, 230.0) * dy)
        np.testing.assert_allclose(dx.reshape(-1)[flat], (plus - minus) / 2e-3, rtol=1e-3, atol=1e-4)


def test_image_kernels_bitwise_across_threads(rng):
    x = rng.uniform(0, 255, (8, 33, 35, 3)).astype(np.float32)
    factors = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    flips = rng.integers(0, 4, 8).astype(np.int32)
    offsets = np.stack([rng.integers(0, 10, 8), rng.integers(0, 12, 8)], 1).astype(np.int64)
    runs = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            means = np.empty((8, 3), np.float32)
            y = _C.contrast_forward(x, factors, 0.0, 255.0, means, np.empty_like(x))
            d = _C.contrast_backward(x, factors, means, 0.0, 255.0, y, np.empty_like(x))
            crop = _C.crop_images(x, offsets, np.empty((8, 24, 24, 3), np.float32))
            runs.append([y, d, _C.flip_images(x, flips, np.empty_like(x)), crop,
                         _C.crop_images_backward(crop, offsets, np.empty_like(x))])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_image_kernel_errors():
    x = np.zeros((2, 4, 4, 1), np.float32)
    t = np.tile(np.array([1, 0, 0, 0, 1, 0], np.float32), (2, 1))
    with pytest.raises(ValueError, match="batch of images"):
        _C.affine_sample(x[0], t, np.empty_like(x[0]), 1, 0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        bad = t.copy()
        bad[1, 2] = np.nan
        _C.affine_sample(x, bad, np.empty_like(x), 1, 0, 0.0)
    with pytest.raises(ValueError, match="6 value"):
        _C.affine_sample(x, t[:1], np.empty_like(x), 1, 0, 0.0)
    with pytest.raises(ValueError, match="fill mode"):
        _C.affine_sample(x, t, np.empty_like(x), 1, 7, 0.0)
    with pytest.raises(ValueError, match="overlaps"):
        _C.affine_sample(x, t, x, 1, 0, 0.0)
    with pytest.raises(TypeError, match="int32"):
        _C.flip_images(x, np.zeros(2, np.int64), np.empty_like(x))
    with pytest.raises(ValueError, match="does not fit"):
        _C.crop_images(x, np.array([[0, 0], [1, 2]], np.int64), np.empty((2, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="means"):
        _C.contrast_forward(x, np.ones(2, np.float32), 0.0, 1.0, np.empty(3, np.float32), np.empty_like(x))
    with pytest.raises(ValueError, match="projective"):
        fastnn.ops.affine_transform(x, [1, 0, 0, 0, 1, 0, 0.1, 0])
    with pytest.raises(ValueError, match="fill_mode"):
        fastnn.ops.affine_transform(x, [1, 0, 0, 0, 1, 0], fill_mode="mirror")
    with pytest.raises(ValueError, match=r"affine_transform: transform has 3 rows for 2 images"):
        fastnn.ops.affine_transform(x, np.zeros((3, 8), np.float32))
    images = np.arange(32, dtype=np.float32).reshape(x.shape)
    np.testing.assert_array_equal(fastnn.ops.affine_transform(images, t[:1]), images)  # one row serves every image
