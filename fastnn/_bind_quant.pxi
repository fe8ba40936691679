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
    idx_t fnn_qconv2d_block_rows(const fnn_conv_shape *s)
    void fnn_qconv2d_forward(const fnn_conv_shape *s, const float *x, const int8_t *packed,
                             const int32_t *col_sums, const float *w_scale, const float *bias, int act, float alpha,
                             int reduce_range, float *y, float *patches, uint8_t *q, float *row_scale,
                             int32_t *row_zero)

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


cdef const float *check_qweights(cnp.ndarray packed, cnp.ndarray col_sums, cnp.ndarray w_scale, cnp.ndarray bias,
                                 idx_t k, str name) except? NULL:
    """Checks the int8 weights of a quantized layer, (k, n) packed with n = col_sums' length; returns the bias
    pointer (NULL without a bias)."""
    check_typed(col_sums, cnp.NPY_INT32, 1, name, "col_sums")
    check_typed(w_scale, cnp.NPY_FLOAT32, 1, name, "w_scale")
    cdef idx_t n = col_sums.shape[0]
    check_k(k, name)
    check_packed(packed, k, n, name)
    if w_scale.shape[0] != n:
        raise ValueError(f"{name}: expected w_scale ({n},), got {(<object>w_scale).shape}")
    if bias is None:
        return NULL
    check_typed(bias, cnp.NPY_FLOAT32, 1, name, "bias")
    if bias.shape[0] != n:
        raise ValueError(f"{name}: bias must have shape ({n},), got {(<object>bias).shape}")
    return f32_ptr(bias)


cdef int check_row_scratch(cnp.ndarray q, cnp.ndarray row_scale, cnp.ndarray row_zero, idx_t m, idx_t k,
                           str name) except -1:
    """q (m, round_up(k, 4)) uint8, row_scale (m,) float32 and row_zero (m,) int32: the rows' quantization."""
    check_typed(q, cnp.NPY_UINT8, 2, name, "q")
    check_typed(row_scale, cnp.NPY_FLOAT32, 1, name, "row_scale")
    check_typed(row_zero, cnp.NPY_INT32, 1, name, "row_zero")
    if q.shape[0] != m or q.shape[1] != (k + 3) // 4 * 4 or row_scale.shape[0] != m or row_zero.shape[0] != m:
        raise ValueError(f"{name}: scratch must be q ({m}, {(k + 3) // 4 * 4}), row_scale and row_zero ({m},)")
    return 0


def qdense_forward(cnp.ndarray x not None, cnp.ndarray packed not None, cnp.ndarray col_sums not None,
                   cnp.ndarray w_scale not None, cnp.ndarray bias, int act, float alpha, bint reduce_range,
                   cnp.ndarray y not None, cnp.ndarray q not None, cnp.ndarray row_scale not None,
                   cnp.ndarray row_zero not None):
    """y (m, n) = act(dequantized int8 product of x (m, k) and the packed weights + bias). q (m,
    round_up(k, 4)) uint8, row_scale (m,) float32 and row_zero (m,) int32 are scratch."""
    name = "qdense_forward"
    check_typed(x, cnp.NPY_FLOAT32, 2, name, "x")
    check_typed(y, cnp.NPY_FLOAT32, 2, name, "y")
    check_epilogue(act, name)
    cdef idx_t m = x.shape[0], k = x.shape[1], n = col_sums.shape[0]
    cdef const float *bias_ptr = check_qweights(packed, col_sums, w_scale, bias, k, name)
    if y.shape[0] != m or y.shape[1] != n:
        raise ValueError(f"{name}: expected y ({m}, {n}), got {(<object>y).shape}")
    check_row_scratch(q, row_scale, row_zero, m, k, name)
    if not cnp.PyArray_ISWRITEABLE(y):
        raise ValueError(f"{name}: the output array is read-only")
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


cdef int fill_qconv_shape(fnn_conv_shape *s, tuple x_shape, tuple kernel_hw, idx_t f, tuple y_shape,
                          tuple geometry, str name) except -1:
    """The geometry of an int8 convolution of x (n, h, w, c) into y (n, out_h, out_w, f), groups 1."""
    if len(x_shape) != 4 or len(y_shape) != 4 or len(kernel_hw) != 2 or len(geometry) != 7:
        raise ValueError(f"{name}: expected 4-D x and y, a (kh, kw) kernel and 7 geometry values, got {x_shape}, "
                         f"{y_shape}, {kernel_hw}, {geometry}")
    s.n, s.h, s.w, s.c = x_shape
    s.kh, s.kw = kernel_hw
    s.f = f
    s.out_h, s.out_w = y_shape[1], y_shape[2]
    s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.pad_top, s.pad_left, s.groups = geometry
    if y_shape[0] != s.n or y_shape[3] != f:
        raise ValueError(f"{name}: y has shape {y_shape}, expected ({s.n}, ., ., {f})")
    if min(s.h, s.w, s.c, s.kh, s.kw, s.f, s.out_h, s.out_w) < 1 or s.n < 0:
        raise ValueError(f"{name}: empty dimension in x {x_shape}, kernel {kernel_hw} or y {y_shape}")
    if min(s.stride_h, s.stride_w, s.dil_h, s.dil_w) < 1 or min(s.pad_top, s.pad_left) < 0 or s.groups != 1:
        raise ValueError(f"{name}: strides and dilations must be >= 1, pads >= 0 and groups 1, got {geometry}")
    return 0


def qconv2d_block_rows(tuple x_shape, tuple kernel_hw, idx_t f, tuple y_shape, tuple geometry):
    """Output pixels per block of qconv2d_forward: the rows of its patches and q scratch."""
    cdef fnn_conv_shape s
    fill_qconv_shape(&s, x_shape, kernel_hw, f, y_shape, geometry, "qconv2d_block_rows")
    return fnn_qconv2d_block_rows(&s)


def qconv2d_forward(cnp.ndarray x not None, tuple kernel_hw, cnp.ndarray packed not None,
                    cnp.ndarray col_sums not None, cnp.ndarray w_scale not None, cnp.ndarray bias, tuple geometry,
                    int act, float alpha, bint reduce_range, cnp.ndarray y not None, cnp.ndarray patches not None,
                    cnp.ndarray q not None, cnp.ndarray row_scale not None, cnp.ndarray row_zero not None):
    """y (n, out_h, out_w, f) = act(int8 convolution of x (n, h, w, c) + bias), the kernel (kh * kw * c, f)
    packed; geometry is (stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, 1). Scratch for B =
    qconv2d_block_rows(...) rows: patches (B, kh * kw * c) float32, q, row_scale, row_zero as qdense_forward's."""
    name = "qconv2d_forward"
    check_typed(x, cnp.NPY_FLOAT32, 4, name, "x")
    check_typed(y, cnp.NPY_FLOAT32, 4, name, "y")
    check_typed(patches, cnp.NPY_FLOAT32, 2, name, "patches")
    check_epilogue(act, name)
    cdef fnn_conv_shape s
    fill_qconv_shape(&s, (<object>x).shape, kernel_hw, col_sums.shape[0], (<object>y).shape, geometry, name)
    cdef idx_t k = s.kh * s.kw * s.c, block = fnn_qconv2d_block_rows(&s)
    cdef const float *bias_ptr = check_qweights(packed, col_sums, w_scale, bias, k, name)
    check_row_scratch(q, row_scale, row_zero, block, k, name)
    if patches.shape[0] != block or patches.shape[1] != k:
        raise ValueError(f"{name}: patches must be ({block}, {k}), got {(<object>patches).shape}")
    if not cnp.PyArray_ISWRITEABLE(y):
        raise ValueError(f"{name}: the output array is read-only")
    check_disjoint(name, [("y", y), ("patches", patches), ("q", q), ("row_scale", row_scale),
                          ("row_zero", row_zero)],
                   [("x", x), ("packed", packed), ("col_sums", col_sums), ("w_scale", w_scale), ("bias", bias)])
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *w_scale_ptr = f32_ptr(w_scale)
    cdef float *y_ptr = f32_ptr(y)
    cdef float *patches_ptr = f32_ptr(patches)
    cdef float *row_scale_ptr = f32_ptr(row_scale)
    cdef const int8_t *packed_ptr = <const int8_t *>cnp.PyArray_DATA(packed)
    cdef const int32_t *col_sums_ptr = <const int32_t *>cnp.PyArray_DATA(col_sums)
    cdef uint8_t *q_ptr = <uint8_t *>cnp.PyArray_DATA(q)
    cdef int32_t *row_zero_ptr = <int32_t *>cnp.PyArray_DATA(row_zero)
    with nogil:
        fnn_qconv2d_forward(&s, x_ptr, packed_ptr, col_sums_ptr, w_scale_ptr, bias_ptr, act, alpha, reduce_range,
                            y_ptr, patches_ptr, q_ptr, row_scale_ptr, row_zero_ptr)
    return y
