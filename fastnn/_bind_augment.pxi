# Bindings for the image augmentation kernels (csrc/nn/augment.c). Images are C-contiguous float32
# (n, h, w, c); every output must be distinct from the inputs it is computed from.

from libc.math cimport isfinite
from libc.stdint cimport int32_t

cdef extern from "fastnn.h" nogil:
    enum:
        FNN_FILL_REFLECT
        FNN_FILL_WRAP
        FNN_FILL_CONSTANT
        FNN_FILL_NEAREST
        FNN_INTERPOLATION_NEAREST
        FNN_INTERPOLATION_BILINEAR
        FNN_FLIP_COLUMNS
        FNN_FLIP_ROWS
    void fnn_affine_sample(idx_t n, idx_t in_h, idx_t in_w, idx_t c, const float *x, const float *transforms,
                           idx_t out_h, idx_t out_w, int interpolation, int fill_mode, const float *fill,
                           float *out)
    void fnn_affine_sample_backward(idx_t n, idx_t in_h, idx_t in_w, idx_t c, const float *transforms,
                                    idx_t out_h, idx_t out_w, int interpolation, int fill_mode, const float *dout,
                                    float *dx)
    void fnn_flip_images(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const int32_t *flips, float *out)
    void fnn_crop_images(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const int64_t *offsets, idx_t out_h,
                         idx_t out_w, float *out)
    void fnn_crop_images_backward(idx_t n, idx_t h, idx_t w, idx_t c, const int64_t *offsets, idx_t out_h,
                                  idx_t out_w, const float *dout, float *dx)
    void fnn_contrast_forward(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const float *factors, float lo,
                              float hi, double *sums, float *means, float *out)
    void fnn_contrast_backward(idx_t n, idx_t h, idx_t w, idx_t c, const float *x, const float *factors,
                               const float *means, float lo, float hi, const float *dy, double *sums, float *dx)

FILL_MODES = {"reflect": FNN_FILL_REFLECT, "wrap": FNN_FILL_WRAP, "constant": FNN_FILL_CONSTANT,
              "nearest": FNN_FILL_NEAREST}
INTERPOLATIONS = {"nearest": FNN_INTERPOLATION_NEAREST, "bilinear": FNN_INTERPOLATION_BILINEAR}
FLIP_COLUMNS = FNN_FLIP_COLUMNS
FLIP_ROWS = FNN_FLIP_ROWS


cdef int need_images(cnp.ndarray x, str what, str name, bint writeable) except -1:
    if writeable:
        need_out(x, what, name)
    else:
        need_f32(x, what, name)
    if cnp.PyArray_NDIM(x) != 4:
        raise ValueError(f"{what}: {name} must be a batch of images (n, h, w, c), got shape {(<object>x).shape}")
    return 0


cdef int need_same_batch(cnp.ndarray a, cnp.ndarray b, bint same_channels, str what) except -1:
    if cnp.PyArray_DIM(a, 0) != cnp.PyArray_DIM(b, 0) or \
            (same_channels and cnp.PyArray_DIM(a, 3) != cnp.PyArray_DIM(b, 3)):
        raise ValueError(f"{what}: shapes {(<object>a).shape} and {(<object>b).shape} differ in images or channels")
    return 0


cdef int need_per_image(cnp.ndarray v, int typenum, idx_t n, idx_t width, str what, str name) except -1:
    if not is_kernel_array(v, typenum):
        raise TypeError(f"{what}: {name} must be a C-contiguous, aligned {cnp.PyArray_DescrFromType(typenum)} array, "
                        f"got dtype {v.dtype}")
    if cnp.PyArray_SIZE(v) != n * width:
        raise ValueError(f"{what}: {name} needs {width} value(s) per image ({n} images), got shape {(<object>v).shape}")
    return 0


cdef int need_codes(int interpolation, int fill_mode, str what) except -1:
    if interpolation not in (FNN_INTERPOLATION_NEAREST, FNN_INTERPOLATION_BILINEAR):
        raise ValueError(f"{what}: unknown interpolation code {interpolation}")
    if fill_mode not in (FNN_FILL_REFLECT, FNN_FILL_WRAP, FNN_FILL_CONSTANT, FNN_FILL_NEAREST):
        raise ValueError(f"{what}: unknown fill mode code {fill_mode}")
    return 0


cdef int need_transforms(cnp.ndarray transforms, idx_t n, str what) except -1:
    need_per_image(transforms, cnp.NPY_FLOAT32, n, 6, what, "transforms")
    cdef const float *t = f32_ptr(transforms)
    cdef idx_t i
    for i in range(6 * n):
        if not isfinite(t[i]):
            raise ValueError(f"{what}: transforms must be finite, got {t[i]} at index {divmod(i, 6)}")
    return 0


cdef cnp.ndarray new_doubles(idx_t count):
    cdef cnp.npy_intp size = count
    return cnp.PyArray_EMPTY(1, &size, cnp.NPY_FLOAT64, 0)


def affine_sample(cnp.ndarray x not None, cnp.ndarray transforms not None, cnp.ndarray out not None,
                  int interpolation, int fill_mode, float fill_value=0.0):
    """Resample each image of x through its affine transform (n, 6) into out (n, out_h, out_w, c)."""
    what = "affine_sample"
    need_images(x, what, "x", False)
    need_images(out, what, "out", True)
    need_same_batch(x, out, True, what)
    need_codes(interpolation, fill_mode, what)
    cdef idx_t n = cnp.PyArray_DIM(x, 0), c = cnp.PyArray_DIM(x, 3)
    need_transforms(transforms, n, what)
    if overlaps(out, x):
        raise ValueError(f"{what}: out overlaps x")
    cdef cnp.npy_intp channels = c
    cdef cnp.ndarray fill = cnp.PyArray_EMPTY(1, &channels, cnp.NPY_FLOAT32, 0)
    cdef float *fill_ptr = f32_ptr(fill)
    cdef idx_t ch
    for ch in range(c):
        fill_ptr[ch] = fill_value
    cdef float *x_ptr = f32_ptr(x)
    cdef float *transforms_ptr = f32_ptr(transforms)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_affine_sample(n, cnp.PyArray_DIM(x, 1), cnp.PyArray_DIM(x, 2), c, x_ptr, transforms_ptr,
                          cnp.PyArray_DIM(out, 1), cnp.PyArray_DIM(out, 2), interpolation, fill_mode, fill_ptr,
                          out_ptr)
    return out


def affine_sample_backward(cnp.ndarray dout not None, cnp.ndarray transforms not None, cnp.ndarray dx not None,
                           int interpolation, int fill_mode):
    """The gradient dx (n, in_h, in_w, c) of affine_sample's input, from dout (n, out_h, out_w, c)."""
    what = "affine_sample_backward"
    need_images(dout, what, "dout", False)
    need_images(dx, what, "dx", True)
    need_same_batch(dout, dx, True, what)
    need_codes(interpolation, fill_mode, what)
    cdef idx_t n = cnp.PyArray_DIM(dx, 0)
    need_transforms(transforms, n, what)
    if overlaps(dx, dout):
        raise ValueError(f"{what}: dx overlaps dout")
    cdef float *transforms_ptr = f32_ptr(transforms)
    cdef float *dout_ptr = f32_ptr(dout)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_affine_sample_backward(n, cnp.PyArray_DIM(dx, 1), cnp.PyArray_DIM(dx, 2), cnp.PyArray_DIM(dx, 3),
                                   transforms_ptr, cnp.PyArray_DIM(dout, 1), cnp.PyArray_DIM(dout, 2),
                                   interpolation, fill_mode, dout_ptr, dx_ptr)
    return dx


def flip_images(cnp.ndarray x not None, cnp.ndarray flips not None, cnp.ndarray out not None):
    """out = x with each image k mirrored as flips[k] (int32) says: FLIP_COLUMNS | FLIP_ROWS."""
    what = "flip_images"
    need_images(x, what, "x", False)
    need_images(out, what, "out", True)
    check_same_shape(out, "out", x, "x", what)
    cdef idx_t n = cnp.PyArray_DIM(x, 0)
    need_per_image(flips, cnp.NPY_INT32, n, 1, what, "flips")
    if overlaps(out, x):
        raise ValueError(f"{what}: out overlaps x")
    cdef float *x_ptr = f32_ptr(x)
    cdef int32_t *flips_ptr = <int32_t *>cnp.PyArray_DATA(flips)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_flip_images(n, cnp.PyArray_DIM(x, 1), cnp.PyArray_DIM(x, 2), cnp.PyArray_DIM(x, 3), x_ptr,
                        flips_ptr, out_ptr)
    return out


cdef int need_windows(cnp.ndarray offsets, cnp.ndarray images, cnp.ndarray windows, str what) except -1:
    """offsets (n, 2) int64 place a window of windows' size inside every image of images."""
    cdef idx_t n = cnp.PyArray_DIM(images, 0), k
    need_per_image(offsets, cnp.NPY_INT64, n, 2, what, "offsets")
    cdef const int64_t *at = <const int64_t *>cnp.PyArray_DATA(offsets)
    cdef idx_t h = cnp.PyArray_DIM(images, 1), w = cnp.PyArray_DIM(images, 2)
    cdef idx_t out_h = cnp.PyArray_DIM(windows, 1), out_w = cnp.PyArray_DIM(windows, 2)
    for k in range(n):
        if at[2 * k] < 0 or at[2 * k + 1] < 0 or at[2 * k] + out_h > h or at[2 * k + 1] + out_w > w:
            raise ValueError(f"{what}: the {out_h}x{out_w} window at {(at[2 * k], at[2 * k + 1])} of image {k} does "
                             f"not fit in its {h}x{w} pixels")
    return 0


def crop_images(cnp.ndarray x not None, cnp.ndarray offsets not None, cnp.ndarray out not None):
    """out (n, out_h, out_w, c) = the window of each image of x at offsets[k] = (row, column)."""
    what = "crop_images"
    need_images(x, what, "x", False)
    need_images(out, what, "out", True)
    need_same_batch(x, out, True, what)
    need_windows(offsets, x, out, what)
    if overlaps(out, x):
        raise ValueError(f"{what}: out overlaps x")
    cdef float *x_ptr = f32_ptr(x)
    cdef int64_t *offsets_ptr = <int64_t *>cnp.PyArray_DATA(offsets)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_crop_images(cnp.PyArray_DIM(x, 0), cnp.PyArray_DIM(x, 1), cnp.PyArray_DIM(x, 2), cnp.PyArray_DIM(x, 3),
                        x_ptr, offsets_ptr, cnp.PyArray_DIM(out, 1),
                        cnp.PyArray_DIM(out, 2), out_ptr)
    return out


def crop_images_backward(cnp.ndarray dout not None, cnp.ndarray offsets not None, cnp.ndarray dx not None):
    """dx (n, h, w, c): dout inside each image's window, zero elsewhere."""
    what = "crop_images_backward"
    need_images(dout, what, "dout", False)
    need_images(dx, what, "dx", True)
    need_same_batch(dout, dx, True, what)
    need_windows(offsets, dx, dout, what)
    if overlaps(dx, dout):
        raise ValueError(f"{what}: dx overlaps dout")
    cdef int64_t *offsets_ptr = <int64_t *>cnp.PyArray_DATA(offsets)
    cdef float *dout_ptr = f32_ptr(dout)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_crop_images_backward(cnp.PyArray_DIM(dx, 0), cnp.PyArray_DIM(dx, 1), cnp.PyArray_DIM(dx, 2),
                                 cnp.PyArray_DIM(dx, 3), offsets_ptr,
                                 cnp.PyArray_DIM(dout, 1), cnp.PyArray_DIM(dout, 2), dout_ptr, dx_ptr)
    return dx


def contrast_forward(cnp.ndarray x not None, cnp.ndarray factors not None, float lo, float hi,
                     cnp.ndarray means not None, cnp.ndarray out not None):
    """out = clip((x - mean) * factor + mean, lo, hi) per image (factors (n,)); means (n, c) receives the
    channel means the backward needs."""
    what = "contrast_forward"
    need_images(x, what, "x", False)
    need_images(out, what, "out", True)
    check_same_shape(out, "out", x, "x", what)
    cdef idx_t n = cnp.PyArray_DIM(x, 0), c = cnp.PyArray_DIM(x, 3)
    need_per_image(factors, cnp.NPY_FLOAT32, n, 1, what, "factors")
    need_out(means, what, "means")
    if cnp.PyArray_SIZE(means) != n * c:
        raise ValueError(f"{what}: means needs {n}x{c} values, got shape {(<object>means).shape}")
    if overlaps(out, x) or overlaps(means, x) or overlaps(means, out):
        raise ValueError(f"{what}: out, means and x must not overlap")
    cdef cnp.ndarray sums = new_doubles(n * c)
    cdef float *x_ptr = f32_ptr(x)
    cdef float *factors_ptr = f32_ptr(factors)
    cdef double *sums_ptr = <double *>cnp.PyArray_DATA(sums)
    cdef float *means_ptr = f32_ptr(means)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_contrast_forward(n, cnp.PyArray_DIM(x, 1), cnp.PyArray_DIM(x, 2), c, x_ptr, factors_ptr, lo, hi,
                             sums_ptr, means_ptr, out_ptr)
    return out


def contrast_backward(cnp.ndarray x not None, cnp.ndarray factors not None, cnp.ndarray means not None, float lo,
                      float hi, cnp.ndarray dy not None, cnp.ndarray dx not None):
    """The gradient of contrast_forward's x, given the factors and means of that call."""
    what = "contrast_backward"
    need_images(x, what, "x", False)
    need_images(dy, what, "dy", False)
    need_images(dx, what, "dx", True)
    check_same_shape(dy, "dy", x, "x", what)
    check_same_shape(dx, "dx", x, "x", what)
    cdef idx_t n = cnp.PyArray_DIM(x, 0), c = cnp.PyArray_DIM(x, 3)
    need_per_image(factors, cnp.NPY_FLOAT32, n, 1, what, "factors")
    need_per_image(means, cnp.NPY_FLOAT32, n, c, what, "means")
    if overlaps(dx, x) or overlaps(dx, dy):
        raise ValueError(f"{what}: dx overlaps x or dy")
    cdef cnp.ndarray sums = new_doubles(n * c)
    cdef float *x_ptr = f32_ptr(x)
    cdef float *factors_ptr = f32_ptr(factors)
    cdef float *means_ptr = f32_ptr(means)
    cdef float *dy_ptr = f32_ptr(dy)
    cdef double *sums_ptr = <double *>cnp.PyArray_DATA(sums)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_contrast_backward(n, cnp.PyArray_DIM(x, 1), cnp.PyArray_DIM(x, 2), c, x_ptr, factors_ptr,
                              means_ptr, lo, hi, dy_ptr, sums_ptr, dx_ptr)
    return dx
