# Bindings for int8 inference (csrc/quant/): packing int8 weights, the u8 x s8 -> int32 GEMM, dynamic
# quantization of rows and the quantized dense forward.

from libc.stdint cimport int8_t, uint8_t, int32_t

cdef extern from "fastnn.h" nogil:
    enum:
        FNN_QGEMM_MAX_K
    idx_t fnn_qgemm_packed_size(idx_t k, idx_t n)
    void fnn_qgemm_pack_b(idx_t k, idx_t n, const int8_t *b, idx_t ldb, int8_t *packed)
    void fnn_qgemm_u8s8(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *packed, int32_t *c,
                        idx_t ldc, int a_7bit)
    const char *fnn_qgemm_kernel_name()
    void fnn_qgemm_u8s8_ref(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *b, idx_t ldb,
                            int32_t *c, idx_t ldc)
    void fnn_quantize_rows_u8(idx_t m, idx_t k, const float *x, int levels, uint8_t *q, float *scale,
                              int32_t *zero_point)
    void fnn_qdense_forward(idx_t m, idx_t n, idx_t k, const float *x, const int8_t *packed,
                            const int32_t *col_sums, const float *w_scale, const float *bias, int act, float alpha,
                            int reduce_range, float *y, uint8_t *q, float *row_scale, int32_t *row_zero)

QGEMM_MAX_K = FNN_QGEMM_MAX_K


cdef int check_typed(cnp.ndarray x, int typenum, int ndim, str name, str what) except -1:
    """x must be a C-contiguous array of typenum with ndim dimensions."""
    if cnp.PyArray_TYPE(x) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(x):
        raise TypeError(f"{name}: {what} must be a C-contiguous {cnp.PyArray_DescrFromType(typenum)} array, got "
                        f"dtype {x.dtype} with strides {(<object>x).strides}")
    if cnp.PyArray_NDIM(x) != ndim:
        raise ValueError(f"{name}: {what} must have {ndim} dimension(s), got shape {(<object>x).shape}")
    return 0


cdef int check_k(idx_t k, str name) except -1:
    if k > FNN_QGEMM_MAX_K:
        raise ValueError(f"{name}: at most {FNN_QGEMM_MAX_K} inputs per output (int32 sums could overflow), "
                         f"got {k}")
    return 0


def qgemm_kernel():
    """The name of the int8 micro-kernel of the SIMD path in force."""
    return fnn_qgemm_kernel_name().decode()


def qgemm_pack(cnp.ndarray b not None):
    """The packed form (1-D int8) of a (k, n) int8 matrix, as fnn_qgemm_u8s8 and qdense_forward read it."""
    check_typed(b, cnp.NPY_INT8, 2, "qgemm_pack", "b")
    cdef idx_t k = b.shape[0], n = b.shape[1]
    check_k(k, "qgemm_pack")
    cdef cnp.npy_intp size = fnn_qgemm_packed_size(k, n)
    cdef cnp.ndarray packed = cnp.PyArray_EMPTY(1, &size, cnp.NPY_INT8, 0)
    with nogil:
        fnn_qgemm_pack_b(k, n, <const int8_t *>cnp.PyArray_DATA(b), n, <int8_t *>cnp.PyArray_DATA(packed))
    return packed


cdef int check_packed(cnp.ndarray packed, idx_t k, idx_t n, str name) except -1:
    check_typed(packed, cnp.NPY_INT8, 1, name, "packed")
    if packed.shape[0] != fnn_qgemm_packed_size(k, n):
        raise ValueError(f"{name}: packed has {packed.shape[0]} bytes, a packed ({k}, {n}) matrix has "
                         f"{fnn_qgemm_packed_size(k, n)}")
    return 0


def qgemm_u8s8(cnp.ndarray a not None, cnp.ndarray packed not None, idx_t n, bint a_7bit=False):
    """The exact int32 product (m, n) of a (m, k) uint8 and the packed (k, n) int8 matrix. a_7bit promises
    every a value is at most 127 (checked)."""
    check_typed(a, cnp.NPY_UINT8, 2, "qgemm_u8s8", "a")
    cdef idx_t m = a.shape[0], k = a.shape[1]
    check_k(k, "qgemm_u8s8")
    check_packed(packed, k, n, "qgemm_u8s8")
    if n < 0:
        raise ValueError(f"qgemm_u8s8: n must be >= 0, got {n}")
    if a_7bit and a.size and (<object>a).max() > 127:
        raise ValueError("qgemm_u8s8: a_7bit=True but a holds values above 127")
    if k % 4:  # the kernels read whole steps of four bytes
        a = np.pad(a, ((0, 0), (0, 4 - k % 4)))
    cdef cnp.npy_intp dims[2]
    dims[0], dims[1] = m, n
    cdef cnp.ndarray c = cnp.PyArray_EMPTY(2, dims, cnp.NPY_INT32, 0)
    cdef idx_t lda = a.shape[1]
    with nogil:
        fnn_qgemm_u8s8(m, n, k, <const uint8_t *>cnp.PyArray_DATA(a), lda, <const int8_t *>cnp.PyArray_DATA(packed),
                       <int32_t *>cnp.PyArray_DATA(c), n, a_7bit)
    return c


def qgemm_u8s8_ref(cnp.ndarray a not None, cnp.ndarray b not None):
    """The naive int32 product of a (m, k) uint8 and b (k, n) int8 (the oracle of qgemm_u8s8)."""
    check_typed(a, cnp.NPY_UINT8, 2, "qgemm_u8s8_ref", "a")
    check_typed(b, cnp.NPY_INT8, 2, "qgemm_u8s8_ref", "b")
    cdef idx_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    if b.shape[0] != k:
        raise ValueError(f"qgemm_u8s8_ref: a is ({m}, {k}) but b is {(<object>b).shape}")
    check_k(k, "qgemm_u8s8_ref")
    cdef cnp.npy_intp dims[2]
    dims[0], dims[1] = m, n
    cdef cnp.ndarray c = cnp.PyArray_EMPTY(2, dims, cnp.NPY_INT32, 0)
    with nogil:
        fnn_qgemm_u8s8_ref(m, n, k, <const uint8_t *>cnp.PyArray_DATA(a), k, <const int8_t *>cnp.PyArray_DATA(b),
                           n, <int32_t *>cnp.PyArray_DATA(c), n)
    return c


def quantize_rows_u8(cnp.ndarray x not None, int levels=255):
    """(q, scale, zero_point): each row of x (m, k) float32 quantized to uint8 [0, levels] (127 or 255)."""
    check_typed(x, cnp.NPY_FLOAT32, 2, "quantize_rows_u8", "x")
    if levels not in (127, 255):
        raise ValueError(f"quantize_rows_u8: levels must be 127 or 255, got {levels}")
    cdef idx_t m = x.shape[0], k = x.shape[1]
    cdef cnp.ndarray q = np.empty((m, (k + 3) // 4 * 4), np.uint8)
    cdef cnp.ndarray scale = np.empty(m, np.float32)
    cdef cnp.ndarray zero = np.empty(m, np.int32)
    cdef const float *x_ptr = f32_ptr(x)
    cdef float *scale_ptr = f32_ptr(scale)
    cdef uint8_t *q_ptr = <uint8_t *>cnp.PyArray_DATA(q)
    cdef int32_t *zero_ptr = <int32_t *>cnp.PyArray_DATA(zero)
    with nogil:
        fnn_quantize_rows_u8(m, k, x_ptr, levels, q_ptr, scale_ptr, zero_ptr)
    return q[:, :k], scale, zero


def qdense_forward(cnp.ndarray x not None, cnp.ndarray packed not None, cnp.ndarray col_sums not None,
                   cnp.ndarray w_scale not None, cnp.ndarray bias, int act, float alpha, bint reduce_range,
                   cnp.ndarray y not None, cnp.ndarray q not None, cnp.ndarray row_scale not None,
                   cnp.ndarray row_zero not None):
    """y (m, n) = act(dequantized int8 product of x (m, k) and the packed weights + bias). q (m,
    round_up(k, 4)) uint8, row_scale (m,) float32 and row_zero (m,) int32 are scratch."""
    name = "qdense_forward"
    check_typed(x, cnp.NPY_FLOAT32, 2, name, "x")
    check_typed(col_sums, cnp.NPY_INT32, 1, name, "col_sums")
    check_typed(w_scale, cnp.NPY_FLOAT32, 1, name, "w_scale")
    check_typed(y, cnp.NPY_FLOAT32, 2, name, "y")
    check_typed(q, cnp.NPY_UINT8, 2, name, "q")
    check_typed(row_scale, cnp.NPY_FLOAT32, 1, name, "row_scale")
    check_typed(row_zero, cnp.NPY_INT32, 1, name, "row_zero")
    check_epilogue(act, name)
    cdef idx_t m = x.shape[0], k = x.shape[1], n = col_sums.shape[0]
    check_k(k, name)
    check_packed(packed, k, n, name)
    if w_scale.shape[0] != n or y.shape[0] != m or y.shape[1] != n:
        raise ValueError(f"{name}: expected w_scale ({n},) and y ({m}, {n}), got {(<object>w_scale).shape} and "
                         f"{(<object>y).shape}")
    if q.shape[0] != m or q.shape[1] != (k + 3) // 4 * 4 or row_scale.shape[0] != m or row_zero.shape[0] != m:
        raise ValueError(f"{name}: scratch must be q ({m}, {(k + 3) // 4 * 4}), row_scale and row_zero ({m},)")
    if not cnp.PyArray_ISWRITEABLE(y):
        raise ValueError(f"{name}: the output array is read-only")
    cdef const float *bias_ptr = NULL
    if bias is not None:
        check_typed(bias, cnp.NPY_FLOAT32, 1, name, "bias")
        if bias.shape[0] != n:
            raise ValueError(f"{name}: bias must have shape ({n},), got {(<object>bias).shape}")
        bias_ptr = f32_ptr(bias)
    check_disjoint(name, [("y", y), ("q", q), ("row_scale", row_scale), ("row_zero", row_zero)],
                   [("x", x), ("packed", packed), ("col_sums", col_sums), ("w_scale", w_scale), ("bias", bias)])
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *w_scale_ptr = f32_ptr(w_scale)
    cdef float *y_ptr = f32_ptr(y)
    cdef float *row_scale_ptr = f32_ptr(row_scale)
    cdef const int8_t *packed_ptr = <const int8_t *>cnp.PyArray_DATA(packed)
    cdef const int32_t *col_sums_ptr = <const int32_t *>cnp.PyArray_DATA(col_sums)
    cdef uint8_t *q_ptr = <uint8_t *>cnp.PyArray_DATA(q)
    cdef int32_t *row_zero_ptr = <int32_t *>cnp.PyArray_DATA(row_zero)
    with nogil:
        fnn_qdense_forward(m, n, k, x_ptr, packed_ptr, col_sums_ptr, w_scale_ptr, bias_ptr, act, alpha,
                           reduce_range, y_ptr, q_ptr, row_scale_ptr, row_zero_ptr)
    return y
