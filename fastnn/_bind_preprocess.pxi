# Bindings for the per-feature kernels of the preprocessing layers (csrc/nn/preprocess.c).
# Each takes x, its statistics (one value per "mid" position) and `inner`, the number of elements each
# statistic covers in a row: x is then (outer, mid, inner) with outer = x.size / (mid * inner). These
# run on every predict, so the checks are C-level tests that build their messages only on failure.

from libc.stdint cimport uint32_t, uint64_t

cdef extern from "fastnn.h" nogil:
    void fnn_normalize_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *mean,
                               const float *variance, float eps, int invert, float *out)
    void fnn_normalize_backward(idx_t outer, idx_t mid, idx_t inner, const float *variance, float eps, int invert,
                                const float *dy, float *dx)
    void fnn_rescale_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *scale,
                             const float *offset, float *out)
    void fnn_rescale_backward(idx_t outer, idx_t mid, idx_t inner, const float *scale, const float *dy, float *dx)
    void fnn_impute_forward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *fill, float *out)
    void fnn_impute_backward(idx_t outer, idx_t mid, idx_t inner, const float *x, const float *dy, float *dx)
    void fnn_fnv1a_utf8(idx_t n, idx_t width, const uint32_t *tokens, uint64_t basis, uint64_t *out)


cdef idx_t feature_outer(cnp.ndarray x, cnp.ndarray stat, idx_t inner, cnp.ndarray out, str what) except -1:
    """The outer size of x viewed as (outer, stat.size, inner), after checking x, stat and out."""
    need_f32(x, what, "x")
    need_f32(stat, what, "statistics")
    need_out(out, what, "out")
    check_same_size(out, x, what)
    if clashes(out, x):
        raise ValueError(f"{what}: out overlaps x without being x itself")
    cdef idx_t size = cnp.PyArray_SIZE(x), block = cnp.PyArray_SIZE(stat) * inner
    if inner < 1 or (block == 0 and size != 0) or (block != 0 and size % block != 0):
        raise ValueError(f"{what}: x of shape {(<object>x).shape} does not split into blocks of "
                         f"{cnp.PyArray_SIZE(stat)} statistics x {inner} elements")
    return size // block if block else 0


cdef int need_stat(cnp.ndarray stat, cnp.ndarray like, str what, str name) except -1:
    need_f32(stat, what, name)
    if cnp.PyArray_SIZE(stat) != cnp.PyArray_SIZE(like):
        raise ValueError(f"{what}: {name} has {cnp.PyArray_SIZE(stat)} values, expected {cnp.PyArray_SIZE(like)}")
    return 0


def normalize_forward(cnp.ndarray x not None, cnp.ndarray mean not None, cnp.ndarray variance not None,
                      idx_t inner, float eps, bint invert, cnp.ndarray out not None):
    """out = (x - mean) / max(sqrt(variance), eps) (invert: x * max(...) + mean); out may be x."""
    cdef idx_t outer = feature_outer(x, mean, inner, out, "normalize_forward")
    need_stat(variance, mean, "normalize_forward", "variance")
    cdef idx_t mid = cnp.PyArray_SIZE(mean)
    cdef float *x_ptr = f32_ptr(x)
    cdef float *mean_ptr = f32_ptr(mean)
    cdef float *variance_ptr = f32_ptr(variance)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_normalize_forward(outer, mid, inner, x_ptr, mean_ptr, variance_ptr, eps, invert,
                              out_ptr)
    return out


def normalize_backward(cnp.ndarray dy not None, cnp.ndarray variance not None, idx_t inner, float eps,
                       bint invert, cnp.ndarray dx not None):
    """dx = dy / max(sqrt(variance), eps) (invert: times); dx may be dy."""
    cdef idx_t outer = feature_outer(dy, variance, inner, dx, "normalize_backward")
    cdef idx_t mid = cnp.PyArray_SIZE(variance)
    cdef float *variance_ptr = f32_ptr(variance)
    cdef float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_normalize_backward(outer, mid, inner, variance_ptr, eps, invert, dy_ptr, dx_ptr)
    return dx


def rescale_forward(cnp.ndarray x not None, cnp.ndarray scale not None, cnp.ndarray offset not None, idx_t inner,
                    cnp.ndarray out not None):
    """out = x * scale + offset; out may be x."""
    cdef idx_t outer = feature_outer(x, scale, inner, out, "rescale_forward")
    need_stat(offset, scale, "rescale_forward", "offset")
    cdef idx_t mid = cnp.PyArray_SIZE(scale)
    cdef float *x_ptr = f32_ptr(x)
    cdef float *scale_ptr = f32_ptr(scale)
    cdef float *offset_ptr = f32_ptr(offset)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_rescale_forward(outer, mid, inner, x_ptr, scale_ptr, offset_ptr, out_ptr)
    return out


def rescale_backward(cnp.ndarray dy not None, cnp.ndarray scale not None, idx_t inner, cnp.ndarray dx not None):
    """dx = dy * scale; dx may be dy."""
    cdef idx_t outer = feature_outer(dy, scale, inner, dx, "rescale_backward")
    cdef idx_t mid = cnp.PyArray_SIZE(scale)
    cdef float *scale_ptr = f32_ptr(scale)
    cdef float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_rescale_backward(outer, mid, inner, scale_ptr, dy_ptr, dx_ptr)
    return dx


def impute_forward(cnp.ndarray x not None, cnp.ndarray fill not None, idx_t inner, cnp.ndarray out not None):
    """out = fill where x is NaN, else x; out may be x."""
    cdef idx_t outer = feature_outer(x, fill, inner, out, "impute_forward")
    cdef idx_t mid = cnp.PyArray_SIZE(fill)
    cdef float *x_ptr = f32_ptr(x)
    cdef float *fill_ptr = f32_ptr(fill)
    cdef float *out_ptr = f32_ptr(out)
    with nogil:
        fnn_impute_forward(outer, mid, inner, x_ptr, fill_ptr, out_ptr)
    return out


def impute_backward(cnp.ndarray x not None, cnp.ndarray dy not None, cnp.ndarray dx not None):
    """dx = 0 where x is NaN, else dy; x, dy and dx have one size, and dx may be dy."""
    need_f32(x, "impute_backward", "x")
    need_f32(dy, "impute_backward", "dy")
    need_out(dx, "impute_backward", "dx")
    check_same_size(dy, x, "impute_backward")
    check_same_size(dx, x, "impute_backward")
    if clashes(dx, dy) or overlaps(dx, x):
        raise ValueError("impute_backward: dx overlaps x, or dy without being dy itself")
    cdef idx_t size = cnp.PyArray_SIZE(x)
    cdef float *x_ptr = f32_ptr(x)
    cdef float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_impute_backward(size, 1, 1, x_ptr, dy_ptr, dx_ptr)
    return dx


def fnv1a_utf8(cnp.ndarray tokens not None, uint64_t basis):
    """The 64-bit FNV-1a hash of each string's UTF-8 bytes (a C-contiguous numpy unicode array), started
    from basis, as a uint64 array of tokens' shape."""
    if not is_kernel_array(tokens, cnp.NPY_UNICODE):
        raise TypeError(f"fnv1a_utf8: tokens must be a C-contiguous, aligned numpy unicode array, got dtype {tokens.dtype}")
    cdef idx_t n = cnp.PyArray_SIZE(tokens), width = cnp.PyArray_ITEMSIZE(tokens) // 4
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(tokens), cnp.PyArray_DIMS(tokens), cnp.NPY_UINT64, 0)
    cdef const uint32_t *tokens_ptr = <const uint32_t *>cnp.PyArray_DATA(tokens)
    cdef uint64_t *out_ptr = <uint64_t *>cnp.PyArray_DATA(out)
    with nogil:
        fnn_fnv1a_utf8(n, width, tokens_ptr, basis, out_ptr)
    return out
