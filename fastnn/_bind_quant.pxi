# Bindings for int8 inference (csrc/quant/): packing int8 weights, the u8 x s8 -> int32 GEMM, dynamic
# quantization of rows and the quantized dense, convolution and recurrent (LSTM, GRU) forwards.

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
    idx_t fnn_qrnn_workspace_floats(const fnn_rnn_desc *d)
    void fnn_qrnn_forward(const fnn_rnn_desc *d, const float *x, const int8_t *kernel, const int32_t *kernel_sums,
                          const float *kernel_scale, const int8_t *recurrent, const int32_t *recurrent_sums,
                          const float *recurrent_scale, const float *bias, const uint8_t *mask, const float *h0,
                          const float *c0, float *y, idx_t y_batch, idx_t y_step, float *h_out, float *c_out,
                          int reduce_range, float *workspace)

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
    check_typed(col_sums, cnp.NPY_INT32, 1, name, "col_sums")
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
    check_typed(col_sums, cnp.NPY_INT32, 1, name, "col_sums")
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


cdef fill_qrnn_desc(fnn_rnn_desc *d, int cell, tuple x_shape, idx_t units, int act, float alpha, int recurrent_act,
                    float recurrent_alpha, bint return_sequences, bint go_backwards, bint zero_output_for_mask,
                    str name):
    if cell != FNN_RNN_LSTM and cell != FNN_RNN_GRU:
        raise ValueError(f"{name}: the int8 forward runs LSTM ({FNN_RNN_LSTM}) and GRU with reset_after "
                         f"({FNN_RNN_GRU}) only, got cell {cell}")
    if len(x_shape) != 3 or x_shape[1] < 1 or units < 1:
        raise ValueError(f"{name}: x must be (batch, steps >= 1, features) and units >= 1, got {x_shape}, {units}")
    check_epilogue(act, name)
    check_epilogue(recurrent_act, name)
    d.cell, d.batch, d.steps, d.in_size, d.units = cell, x_shape[0], x_shape[1], x_shape[2], units
    d.act, d.recurrent_act, d.alpha, d.recurrent_alpha = act, recurrent_act, alpha, recurrent_alpha
    d.return_sequences, d.go_backwards, d.zero_output_for_mask = return_sequences, go_backwards, zero_output_for_mask
    d.recurrent_dropout = 0


def qrnn_workspace_floats(int cell, tuple x_shape, idx_t units):
    """Floats of the workspace qrnn_forward needs."""
    cdef fnn_rnn_desc d
    fill_qrnn_desc(&d, cell, x_shape, units, 0, 0.0, 0, 0.0, False, False, False, "qrnn_workspace_floats")
    return fnn_qrnn_workspace_floats(&d)


def qrnn_forward(int cell, cnp.ndarray x not None, cnp.ndarray kernel not None, cnp.ndarray kernel_sums not None,
                 cnp.ndarray kernel_scale not None, cnp.ndarray recurrent not None,
                 cnp.ndarray recurrent_sums not None, cnp.ndarray recurrent_scale not None, cnp.ndarray bias,
                 cnp.ndarray mask, cnp.ndarray h0, cnp.ndarray c0, cnp.ndarray y not None, cnp.ndarray h_out not None,
                 cnp.ndarray c_out, cnp.ndarray workspace not None, int act, float alpha, int recurrent_act,
                 float recurrent_alpha, bint return_sequences, bint go_backwards, bint zero_output_for_mask,
                 bint reduce_range):
    """The int8 LSTM or GRU (reset_after) forward over x (batch, steps, in) into y (as rnn_forward's: any
    whole-float strides, last axis contiguous), h_out and, for LSTM, c_out (batch, units). kernel and
    recurrent are the packed int8 (in, G * units) and (units, G * units) kernels with their column sums and
    scales; workspace has qrnn_workspace_floats(...) floats."""
    name = "qrnn_forward"
    check_typed(x, cnp.NPY_FLOAT32, 3, name, "x")
    check_typed(kernel_sums, cnp.NPY_INT32, 1, name, "kernel_sums")
    check_typed(recurrent_sums, cnp.NPY_INT32, 1, name, "recurrent_sums")
    cdef fnn_rnn_desc d
    cdef idx_t units = recurrent_sums.shape[0] // (4 if cell == FNN_RNN_LSTM else 3)
    fill_qrnn_desc(&d, cell, (<object>x).shape, units, act, alpha, recurrent_act, recurrent_alpha, return_sequences,
                   go_backwards, zero_output_for_mask, name)
    cdef idx_t gu = recurrent_sums.shape[0]
    if gu != units * (4 if cell == FNN_RNN_LSTM else 3) or kernel_sums.shape[0] != gu:
        raise ValueError(f"{name}: the kernels must have {units} units x gates columns, got {kernel_sums.shape[0]} "
                         f"and {gu}")
    cdef const float *bias_p = check_qweights(kernel, kernel_sums, kernel_scale, None, d.in_size, name)
    check_qweights(recurrent, recurrent_sums, recurrent_scale, None, units, name)
    bias_p = optional_f32(bias, bias_shape(cell, units), name, "bias")
    cdef const uint8_t *mask_p = mask_ptr(mask, d.batch, d.steps, name)
    cdef tuple state_shape = (d.batch, units)
    cdef const float *h0_p = optional_f32(h0, state_shape, name, "h0")
    if (c0 is not None or c_out is not None) and cell != FNN_RNN_LSTM:
        raise ValueError(f"{name}: only an LSTM has a cell state")
    cdef const float *c0_p = optional_f32(c0, state_shape, name, "c0")
    cdef idx_t y_batch = 0, y_step = 0
    sequence_view(y, (d.batch, d.steps, units) if return_sequences else state_shape, True, name, "y", &y_batch,
                  &y_step)
    check_typed(h_out, cnp.NPY_FLOAT32, 2, name, "h_out")
    check_shape(h_out, state_shape, name, "h_out")
    if cell == FNN_RNN_LSTM:
        if c_out is None:
            raise ValueError(f"{name}: an LSTM needs c_out")
        check_typed(c_out, cnp.NPY_FLOAT32, 2, name, "c_out")
        check_shape(c_out, state_shape, name, "c_out")
    check_typed(workspace, cnp.NPY_FLOAT32, 1, name, "workspace")
    if workspace.shape[0] < fnn_qrnn_workspace_floats(&d):
        raise ValueError(f"{name}: workspace holds {workspace.shape[0]} floats, needs {fnn_qrnn_workspace_floats(&d)}")
    for out in (y, h_out, c_out, workspace):
        if out is not None and not cnp.PyArray_ISWRITEABLE(out):
            raise ValueError(f"{name}: an output array is read-only")
    check_disjoint(name, [("y", y), ("h_out", h_out), ("c_out", c_out), ("workspace", workspace)],
                   [("x", x), ("kernel", kernel), ("recurrent", recurrent), ("kernel_sums", kernel_sums),
                    ("recurrent_sums", recurrent_sums), ("kernel_scale", kernel_scale),
                    ("recurrent_scale", recurrent_scale), ("bias", bias), ("mask", mask), ("h0", h0), ("c0", c0)])
    cdef const float *x_p = f32_ptr(x)
    cdef const int8_t *k_p = <const int8_t *>cnp.PyArray_DATA(kernel)
    cdef const int8_t *r_p = <const int8_t *>cnp.PyArray_DATA(recurrent)
    cdef const int32_t *ks_p = <const int32_t *>cnp.PyArray_DATA(kernel_sums)
    cdef const int32_t *rs_p = <const int32_t *>cnp.PyArray_DATA(recurrent_sums)
    cdef const float *kscale_p = f32_ptr(kernel_scale)
    cdef const float *rscale_p = f32_ptr(recurrent_scale)
    cdef float *y_p = <float *>cnp.PyArray_DATA(y)
    cdef float *h_p = f32_ptr(h_out)
    cdef float *c_p = data_or_null(c_out)
    cdef float *ws = f32_ptr(workspace)
    with nogil:
        fnn_qrnn_forward(&d, x_p, k_p, ks_p, kscale_p, r_p, rs_p, rscale_p, bias_p, mask_p, h0_p, c0_p, y_p, y_batch,
                         y_step, h_p, c_p, reduce_range, ws)
    return y, h_out, c_out
