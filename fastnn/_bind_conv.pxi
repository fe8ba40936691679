# Bindings for the convolutional kernels (csrc/nn/): convolutions, pooling, batch normalization,
# upsampling. They check what the C trusts (dtype, rank, contiguity, matching sizes, overlaps, the
# scratch size); the window arithmetic of paddings and output sizes is fastnn.ops's.

cdef extern from "fastnn.h" nogil:
    ctypedef struct fnn_conv_shape:
        idx_t n, h, w, c, f, kh, kw, out_h, out_w
        idx_t stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups
    enum:
        FNN_CONV_FORWARD
        FNN_CONV_BACKWARD_DATA
        FNN_CONV_BACKWARD_FILTER
    idx_t fnn_conv2d_scratch_floats(const fnn_conv_shape *s, int pass_, int threads)
    int fnn_conv2d_forward(const fnn_conv_shape *s, const float *x, const float *w, const float *bias, int act,
                           float alpha, float *y, float *scratch, idx_t scratch_floats)
    int fnn_conv2d_backward_data(const fnn_conv_shape *s, const float *dy, const float *w, const float *bias,
                                 int act, float alpha, float *dx, float *scratch, idx_t scratch_floats)
    int fnn_conv2d_backward_filter(const fnn_conv_shape *s, const float *x, const float *dy, float *dw, float *db,
                                   float *scratch, idx_t scratch_floats)
    void fnn_conv2d_forward_ref(const fnn_conv_shape *s, const float *x, const float *w, const float *bias,
                                int act, float alpha, float *y)
    void fnn_conv2d_backward_data_ref(const fnn_conv_shape *s, const float *dy, const float *w, const float *bias,
                                      int act, float alpha, float *dx)
    void fnn_conv2d_backward_filter_ref(const fnn_conv_shape *s, const float *x, const float *dy, float *dw,
                                        float *db)


cdef int need_rank(cnp.ndarray a, int ndim, str what, str name) except -1:
    """a is a C-contiguous float32 array of rank ndim."""
    need_f32(a, what, name)
    if cnp.PyArray_NDIM(a) != ndim:
        raise ValueError(f"{what}: {name} must be {ndim}-D, got shape {(<object>a).shape}")
    return 0


cdef int need_output(cnp.ndarray a, tuple shape, str what, str name, tuple inputs) except -1:
    """a is a writeable C-contiguous float32 array of `shape` sharing no memory with `inputs`."""
    need_out(a, what, name)
    if (<object>a).shape != shape:
        raise ValueError(f"{what}: {name} must have shape {shape}, got {(<object>a).shape}")
    for other in inputs:
        if other is not None and overlaps(a, other):
            raise ValueError(f"{what}: {name} must not share memory with another argument")
    return 0


cdef cnp.ndarray new_vector(idx_t n):
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    return cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT32, 0)


cdef inline float *nullable_ptr(cnp.ndarray x):
    return f32_ptr(x) if x is not None else NULL


cdef int fill_conv_shape(fnn_conv_shape *s, cnp.ndarray image, cnp.ndarray w, cnp.ndarray out, tuple geometry,
                         str what) except -1:
    """The geometry of a convolution from image (n, h, w, c), kernel w (kh, kw, c / groups, f), its output
    out (n, out_h, out_w, f) and (stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups)."""
    need_rank(image, 4, what, "the input")
    need_rank(w, 4, what, "the kernel")
    need_rank(out, 4, what, "the output")
    s.n, s.h, s.w, s.c = image.shape[0], image.shape[1], image.shape[2], image.shape[3]
    s.kh, s.kw, s.f = w.shape[0], w.shape[1], w.shape[3]
    s.out_h, s.out_w = out.shape[1], out.shape[2]
    s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.pad_top, s.pad_left, s.groups = geometry
    if out.shape[0] != s.n or out.shape[3] != s.f:
        raise ValueError(f"{what}: the output has shape {(<object>out).shape}, expected ({s.n}, ., ., {s.f})")
    if min(s.h, s.w, s.c, s.kh, s.kw, s.f, s.out_h, s.out_w) < 1:
        raise ValueError(f"{what}: empty dimension in input {(<object>image).shape}, kernel {(<object>w).shape} "
                         f"or output {(<object>out).shape}")
    if min(s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.groups) < 1 or min(s.pad_top, s.pad_left) < 0:
        raise ValueError(f"{what}: strides, dilations and groups must be >= 1 and pads >= 0, got {geometry}")
    if w.shape[2] * s.groups != s.c or s.f % s.groups != 0:
        raise ValueError(f"{what}: a kernel of shape {(<object>w).shape} with {s.groups} groups does not fit "
                         f"{s.c} input channels")
    return 0


cdef cnp.ndarray conv_scratch(cnp.ndarray scratch, const fnn_conv_shape *s, int pass_, str what, tuple arrays):
    """The scratch for a pass: a new array when None, else checked (float32, writeable, apart from arrays)."""
    cdef idx_t floats = fnn_conv2d_scratch_floats(s, pass_, fnn_get_num_threads())
    if scratch is None:
        return new_vector(max(floats, 1))
    need_out(scratch, what, "scratch")
    for other in arrays:
        if other is not None and overlaps(scratch, other):
            raise ValueError(f"{what}: scratch must not share memory with another argument")
    return scratch


cdef int scratch_failed(str what, const fnn_conv_shape *s, int pass_, idx_t given) except -1:
    raise ValueError(f"{what}: scratch holds {given} floats; this convolution needs at least "
                     f"{fnn_conv2d_scratch_floats(s, pass_, 1)} (one thread) or "
                     f"{fnn_conv2d_scratch_floats(s, pass_, fnn_get_num_threads())} (all threads)")


def conv2d_scratch_floats(tuple x_shape, tuple w_shape, tuple y_shape, tuple geometry, int pass_, int threads):
    """Floats of scratch a convolution pass needs (pass_: 0 forward, 1 data gradient, 2 filter gradient)."""
    cdef fnn_conv_shape s
    s.n, s.h, s.w, s.c = x_shape
    s.kh, s.kw, _, s.f = w_shape
    _, s.out_h, s.out_w, _ = y_shape
    s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.pad_top, s.pad_left, s.groups = geometry
    if not 0 <= pass_ <= 2 or threads < 1:
        raise ValueError(f"conv2d_scratch_floats: pass must be 0, 1 or 2 and threads >= 1, got {pass_}, {threads}")
    return fnn_conv2d_scratch_floats(&s, pass_, threads)


def conv2d_forward(cnp.ndarray x not None, cnp.ndarray w not None, cnp.ndarray bias, cnp.ndarray y not None,
                   cnp.ndarray scratch, tuple geometry, int act=0, float alpha=0.0, bint reference=False,
                   str what="conv2d"):
    """y = act(conv(x, w) + bias) into y; x (n, h, w, c), w (kh, kw, c / groups, f), y (n, out_h, out_w, f)."""
    cdef fnn_conv_shape s
    fill_conv_shape(&s, x, w, y, geometry, what)
    check_epilogue(act, what)
    if bias is not None:
        need_rank(bias, 1, what, "bias")
        if bias.shape[0] != s.f:
            raise ValueError(f"{what}: bias must have shape ({s.f},), got {(<object>bias).shape}")
    need_output(y, (<object>y).shape, what, "the output", (x, w, bias))
    if s.n == 0:
        return y
    cdef cnp.ndarray buf = None if reference else conv_scratch(scratch, &s, FNN_CONV_FORWARD, what, (x, w, bias, y))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *w_ptr = f32_ptr(w)
    cdef const float *b_ptr = optional_ptr(bias)
    cdef float *y_ptr = f32_ptr(y)
    cdef float *s_ptr = NULL if reference else f32_ptr(buf)
    cdef idx_t s_floats = 0 if reference else cnp.PyArray_SIZE(buf)
    cdef int status = 0
    with nogil:
        if reference:
            fnn_conv2d_forward_ref(&s, x_ptr, w_ptr, b_ptr, act, alpha, y_ptr)
        else:
            status = fnn_conv2d_forward(&s, x_ptr, w_ptr, b_ptr, act, alpha, y_ptr, s_ptr, s_floats)
    if status != 0:
        scratch_failed(what, &s, FNN_CONV_FORWARD, s_floats)
    return y


def conv2d_backward_data(cnp.ndarray dy not None, cnp.ndarray w not None, cnp.ndarray bias, cnp.ndarray dx not None,
                         cnp.ndarray scratch, tuple geometry, int act=0, float alpha=0.0, bint reference=False,
                         str what="conv2d_backward"):
    """dx = act(the data gradient of conv(., w) for dy + bias): also a transposed convolution's forward.
    dy (n, out_h, out_w, f), w (kh, kw, c / groups, f), dx (n, h, w, c), bias (c,) or None."""
    cdef fnn_conv_shape s
    fill_conv_shape(&s, dx, w, dy, geometry, what)
    check_epilogue(act, what)
    if bias is not None:
        need_rank(bias, 1, what, "bias")
        if bias.shape[0] != s.c:
            raise ValueError(f"{what}: bias must have shape ({s.c},), got {(<object>bias).shape}")
    need_output(dx, (<object>dx).shape, what, "the output", (dy, w, bias))
    if s.n == 0:
        return dx
    cdef cnp.ndarray buf = None if reference else conv_scratch(scratch, &s, FNN_CONV_BACKWARD_DATA, what,
                                                                 (dy, w, bias, dx))
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef const float *w_ptr = f32_ptr(w)
    cdef const float *b_ptr = optional_ptr(bias)
    cdef float *dx_ptr = f32_ptr(dx)
    cdef float *s_ptr = NULL if reference else f32_ptr(buf)
    cdef idx_t s_floats = 0 if reference else cnp.PyArray_SIZE(buf)
    cdef int status = 0
    with nogil:
        if reference:
            fnn_conv2d_backward_data_ref(&s, dy_ptr, w_ptr, b_ptr, act, alpha, dx_ptr)
        else:
            status = fnn_conv2d_backward_data(&s, dy_ptr, w_ptr, b_ptr, act, alpha, dx_ptr, s_ptr, s_floats)
    if status != 0:
        scratch_failed(what, &s, FNN_CONV_BACKWARD_DATA, s_floats)
    return dx


def conv2d_backward_filter(cnp.ndarray x not None, cnp.ndarray dy not None, cnp.ndarray dw not None,
                           cnp.ndarray db, cnp.ndarray scratch, tuple geometry, bint reference=False,
                           str what="conv2d_backward"):
    """dw (kh, kw, c / groups, f) and db (f,) or None: the filter gradients of conv(x, .) for dy."""
    cdef fnn_conv_shape s
    fill_conv_shape(&s, x, dw, dy, geometry, what)
    need_output(dw, (<object>dw).shape, what, "dw", (x, dy))
    if db is not None:
        need_output(db, (s.f,), what, "db", (x, dy, dw))
    if s.n == 0:
        dw.fill(0)
        if db is not None:
            db.fill(0)
        return dw
    cdef cnp.ndarray buf = None if reference else conv_scratch(scratch, &s, FNN_CONV_BACKWARD_FILTER, what,
                                                                 (x, dy, dw, db))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *dw_ptr = f32_ptr(dw)
    cdef float *db_ptr = nullable_ptr(db)
    cdef float *s_ptr = NULL if reference else f32_ptr(buf)
    cdef idx_t s_floats = 0 if reference else cnp.PyArray_SIZE(buf)
    cdef int status = 0
    with nogil:
        if reference:
            fnn_conv2d_backward_filter_ref(&s, x_ptr, dy_ptr, dw_ptr, db_ptr)
        else:
            status = fnn_conv2d_backward_filter(&s, x_ptr, dy_ptr, dw_ptr, db_ptr, s_ptr, s_floats)
    if status != 0:
        scratch_failed(what, &s, FNN_CONV_BACKWARD_FILTER, s_floats)
    return dw


cdef extern from "fastnn.h" nogil:
    ctypedef struct fnn_pool_shape:
        idx_t n, h, w, c, out_h, out_w
        idx_t pool_h, pool_w, stride_h, stride_w, pad_top, pad_left
    void fnn_max_pool2d_forward(const fnn_pool_shape *s, const float *x, float *y)
    void fnn_max_pool2d_backward(const fnn_pool_shape *s, const float *x, const float *y, const float *dy, float *dx)
    void fnn_avg_pool2d_forward(const fnn_pool_shape *s, const float *x, float *y)
    void fnn_avg_pool2d_backward(const fnn_pool_shape *s, const float *dy, float *dx)
    void fnn_global_avg_pool_forward(idx_t n, idx_t pixels, idx_t c, const float *x, float *y)
    void fnn_global_avg_pool_backward(idx_t n, idx_t pixels, idx_t c, const float *dy, float *dx)
    void fnn_global_max_pool_forward(idx_t n, idx_t pixels, idx_t c, const float *x, float *y)
    void fnn_global_max_pool_backward(idx_t n, idx_t pixels, idx_t c, const float *x, const float *y,
                                      const float *dy, float *dx)


cdef int fill_pool_shape(fnn_pool_shape *s, cnp.ndarray x, cnp.ndarray y, tuple window, str what) except -1:
    """x (n, h, w, c), y (n, out_h, out_w, c), window (pool_h, pool_w, stride_h, stride_w, pad_top, pad_left);
    every window must hold at least one input cell."""
    need_rank(x, 4, what, "x")
    need_rank(y, 4, what, "y")
    s.n, s.h, s.w, s.c = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
    s.out_h, s.out_w = y.shape[1], y.shape[2]
    s.pool_h, s.pool_w, s.stride_h, s.stride_w, s.pad_top, s.pad_left = window
    if y.shape[0] != s.n or y.shape[3] != s.c:
        raise ValueError(f"{what}: y has shape {(<object>y).shape}, expected ({s.n}, ., ., {s.c})")
    if min(s.pool_h, s.pool_w, s.stride_h, s.stride_w) < 1 or min(s.pad_top, s.pad_left) < 0:
        raise ValueError(f"{what}: pool sizes and strides must be >= 1 and pads >= 0, got {window}")
    if min(s.h, s.w, s.c, s.out_h, s.out_w) < 1:
        raise ValueError(f"{what}: empty dimension in x {(<object>x).shape} or y {(<object>y).shape}")
    if s.pad_top >= s.pool_h or s.pad_left >= s.pool_w or (s.out_h - 1) * s.stride_h - s.pad_top >= s.h or \
            (s.out_w - 1) * s.stride_w - s.pad_left >= s.w:
        raise ValueError(f"{what}: a window of {window} would hold no cell of a {s.h}x{s.w} image "
                         f"for a {s.out_h}x{s.out_w} output")
    return 0


def pool2d_forward(str kind, cnp.ndarray x not None, cnp.ndarray y not None, tuple window):
    """y = the max or avg (kind) pool of x over the windows of `window` (see fill_pool_shape)."""
    cdef str what = kind + "_pool2d"
    cdef fnn_pool_shape s
    fill_pool_shape(&s, x, y, window, what)
    need_output(y, (<object>y).shape, what, "y", (x,))
    cdef const float *x_ptr = f32_ptr(x)
    cdef float *y_ptr = f32_ptr(y)
    cdef bint is_max = kind == "max"
    if s.n > 0:
        with nogil:
            if is_max:
                fnn_max_pool2d_forward(&s, x_ptr, y_ptr)
            else:
                fnn_avg_pool2d_forward(&s, x_ptr, y_ptr)
    return y


def pool2d_backward(str kind, cnp.ndarray x not None, cnp.ndarray y, cnp.ndarray dy not None,
                    cnp.ndarray dx not None, tuple window):
    """dx for dy of a max (reads x and y) or avg pool; x gives the input shape."""
    cdef str what = kind + "_pool2d_backward"
    cdef fnn_pool_shape s
    cdef bint is_max = kind == "max"
    fill_pool_shape(&s, x, dy, window, what)
    if is_max:
        if y is None:
            raise ValueError(f"{what}: max pooling's backward needs y")
        need_f32(y, what, "y")
        check_same_shape(y, "y", dy, "dy", what)
    need_output(dx, (<object>x).shape, what, "dx", (x, y, dy))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *y_ptr = f32_ptr(y) if is_max else NULL
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    if s.n > 0:
        with nogil:
            if is_max:
                fnn_max_pool2d_backward(&s, x_ptr, y_ptr, dy_ptr, dx_ptr)
            else:
                fnn_avg_pool2d_backward(&s, dy_ptr, dx_ptr)
    return dx


def global_pool_forward(str kind, cnp.ndarray x not None, cnp.ndarray y not None):
    """y (n, c) = the max or avg of x (n, pixels, c) over its pixels."""
    cdef str what = f"global_{kind}_pool"
    need_rank(x, 3, what, "x")
    cdef idx_t n = x.shape[0], pixels = x.shape[1], c = x.shape[2]
    if pixels < 1:
        raise ValueError(f"{what}: x has no pixels: shape {(<object>x).shape}")
    need_output(y, (n, c), what, "y", (x,))
    cdef const float *x_ptr = f32_ptr(x)
    cdef float *y_ptr = f32_ptr(y)
    cdef bint is_max = kind == "max"
    with nogil:
        if is_max:
            fnn_global_max_pool_forward(n, pixels, c, x_ptr, y_ptr)
        else:
            fnn_global_avg_pool_forward(n, pixels, c, x_ptr, y_ptr)
    return y


def global_pool_backward(str kind, cnp.ndarray x not None, cnp.ndarray y, cnp.ndarray dy not None,
                         cnp.ndarray dx not None):
    """dx (n, pixels, c) for dy (n, c) of a global max (reads x and y) or avg pool."""
    cdef str what = f"global_{kind}_pool_backward"
    cdef bint is_max = kind == "max"
    need_rank(x, 3, what, "x")
    cdef idx_t n = x.shape[0], pixels = x.shape[1], c = x.shape[2]
    if pixels < 1:
        raise ValueError(f"{what}: x has no pixels: shape {(<object>x).shape}")
    need_rank(dy, 2, what, "dy")
    if dy.shape[0] != n or dy.shape[1] != c:
        raise ValueError(f"{what}: dy must have shape {(n, c)}, got {(<object>dy).shape}")
    if is_max:
        if y is None:
            raise ValueError(f"{what}: max pooling's backward needs y")
        need_f32(y, what, "y")
        check_same_shape(y, "y", dy, "dy", what)
    need_output(dx, (n, pixels, c), what, "dx", (x, y, dy))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *y_ptr = f32_ptr(y) if is_max else NULL
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        if is_max:
            fnn_global_max_pool_backward(n, pixels, c, x_ptr, y_ptr, dy_ptr, dx_ptr)
        else:
            fnn_global_avg_pool_backward(n, pixels, c, dy_ptr, dx_ptr)
    return dx


cdef extern from "fastnn.h" nogil:
    idx_t fnn_batch_norm_scratch_floats(idx_t c)
    void fnn_batch_norm_forward_train(idx_t rows, idx_t c, idx_t inner, const float *x, const float *gamma,
                                      const float *beta, float eps, float *y, float *mean, float *invstd,
                                      float *moving_mean, float *moving_var, float momentum, float *scratch)
    void fnn_batch_norm_backward(idx_t rows, idx_t c, idx_t inner, const float *x, const float *dy,
                                 const float *gamma, const float *mean, const float *invstd, float *dx, float *dgamma,
                                 float *dbeta, float *scratch)
    void fnn_batch_norm_forward_infer(idx_t rows, idx_t c, idx_t inner, const float *x, const float *gamma,
                                      const float *beta, const float *mean, const float *var, float eps, float *y,
                                      float *scratch)
    void fnn_batch_norm_fold(idx_t outer, idx_t f, idx_t inner, float *w, float *b, const float *gamma,
                             const float *beta, const float *mean, const float *var, float eps)


cdef int need_channels(cnp.ndarray a, idx_t c, str what, str name, bint output, tuple inputs) except -1:
    """a is a float32 (c,) vector; an output is writeable and apart from inputs."""
    if output:
        need_output(a, (c,), what, name, inputs)
    else:
        need_rank(a, 1, what, name)
        if a.shape[0] != c:
            raise ValueError(f"{what}: {name} must have shape ({c},), got {(<object>a).shape}")
    return 0


cdef int need_rows(cnp.ndarray x, str what, idx_t *rows, idx_t *c, idx_t *inner) except -1:
    """x is (rows, c), or (rows, c, inner) with the channels in the middle, every size >= 1."""
    need_f32(x, what, "x")
    if x.ndim not in (2, 3):
        raise ValueError(f"{what}: x must be (rows, channels) or (rows, channels, inner), got shape "
                         f"{(<object>x).shape}")
    rows[0], c[0], inner[0] = x.shape[0], x.shape[1], x.shape[2] if x.ndim == 3 else 1
    if rows[0] < 1 or c[0] < 1 or inner[0] < 1:
        raise ValueError(f"{what}: x must have at least one row, one channel and one value a channel, got shape "
                         f"{(<object>x).shape}")
    return 0


cdef cnp.ndarray norm_scratch(cnp.ndarray scratch, idx_t c, str what, tuple arrays):
    cdef idx_t floats = fnn_batch_norm_scratch_floats(c)
    if scratch is None:
        return new_vector(floats)
    need_out(scratch, what, "scratch")
    if cnp.PyArray_SIZE(scratch) < floats:
        raise ValueError(f"{what}: scratch needs {floats} floats, got {cnp.PyArray_SIZE(scratch)}")
    for other in arrays:
        if other is not None and overlaps(scratch, other):
            raise ValueError(f"{what}: scratch must not share memory with another argument")
    return scratch


def batch_norm_scratch_floats(idx_t c):
    # the count is linear in c, so the largest c whose count fits idx_t is the max over the count of one
    if not 0 <= c <= np.iinfo(np.intp).max // fnn_batch_norm_scratch_floats(1):
        raise ValueError(f"batch_norm_scratch_size: channels must be >= 0 and small enough that the scratch size "
                         f"fits 64 bits, got {c}")
    return fnn_batch_norm_scratch_floats(c)


def batch_norm_forward_train(cnp.ndarray x not None, cnp.ndarray gamma, cnp.ndarray beta, float eps,
                             cnp.ndarray y not None, cnp.ndarray mean not None, cnp.ndarray invstd not None,
                             cnp.ndarray moving_mean, cnp.ndarray moving_var, float momentum, cnp.ndarray scratch):
    """Batch statistics of x (rows, c) and y = gamma * (x - mean) * invstd + beta; mean and invstd (c,) are
    written, and the moving statistics (c,) updated when given."""
    cdef str what = "batch_norm_forward_train"
    cdef idx_t rows, c, inner
    need_rows(x, what, &rows, &c, &inner)
    for v, name in ((gamma, "gamma"), (beta, "beta")):
        if v is not None:
            need_channels(v, c, what, name, False, ())
    need_output(y, (<object>x).shape, what, "y", (x, gamma, beta))
    need_channels(mean, c, what, "mean", True, (x, gamma, beta, y))
    need_channels(invstd, c, what, "invstd", True, (x, gamma, beta, y, mean))
    if moving_mean is not None:
        need_channels(moving_mean, c, what, "moving_mean", True, (x, gamma, beta, y, mean, invstd))
    if moving_var is not None:
        need_channels(moving_var, c, what, "moving_var", True, (x, gamma, beta, y, mean, invstd, moving_mean))
    scratch = norm_scratch(scratch, c, what, (x, gamma, beta, y, mean, invstd, moving_mean, moving_var))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *g_ptr = optional_ptr(gamma)
    cdef const float *b_ptr = optional_ptr(beta)
    cdef float *y_ptr = f32_ptr(y)
    cdef float *m_ptr = f32_ptr(mean)
    cdef float *i_ptr = f32_ptr(invstd)
    cdef float *mm_ptr = nullable_ptr(moving_mean)
    cdef float *mv_ptr = nullable_ptr(moving_var)
    cdef float *s_ptr = f32_ptr(scratch)
    with nogil:
        fnn_batch_norm_forward_train(rows, c, inner, x_ptr, g_ptr, b_ptr, eps, y_ptr, m_ptr, i_ptr, mm_ptr, mv_ptr, momentum,
                                     s_ptr)
    return y


def batch_norm_backward(cnp.ndarray x not None, cnp.ndarray dy not None, cnp.ndarray gamma,
                        cnp.ndarray mean not None, cnp.ndarray invstd not None, cnp.ndarray dx, cnp.ndarray dgamma,
                        cnp.ndarray dbeta, cnp.ndarray scratch):
    """dx (rows, c), dgamma and dbeta (c,) of a training batch normalization; each output may be None."""
    cdef str what = "batch_norm_backward"
    cdef idx_t rows, c, inner
    need_rows(x, what, &rows, &c, &inner)
    need_f32(dy, what, "dy")
    check_same_shape(dy, "dy", x, "x", what)
    for v, name in ((gamma, "gamma"), (mean, "mean"), (invstd, "invstd")):
        if v is not None:
            need_channels(v, c, what, name, False, ())
    cdef tuple inputs = (x, dy, gamma, mean, invstd)
    if dx is not None:
        need_output(dx, (<object>x).shape, what, "dx", inputs)
    if dgamma is not None:
        need_channels(dgamma, c, what, "dgamma", True, inputs + (dx,))
    if dbeta is not None:
        need_channels(dbeta, c, what, "dbeta", True, inputs + (dx, dgamma))
    scratch = norm_scratch(scratch, c, what, inputs + (dx, dgamma, dbeta))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef const float *g_ptr = optional_ptr(gamma)
    cdef const float *m_ptr = f32_ptr(mean)
    cdef const float *i_ptr = f32_ptr(invstd)
    cdef float *dx_ptr = nullable_ptr(dx)
    cdef float *dg_ptr = nullable_ptr(dgamma)
    cdef float *db_ptr = nullable_ptr(dbeta)
    cdef float *s_ptr = f32_ptr(scratch)
    with nogil:
        fnn_batch_norm_backward(rows, c, inner, x_ptr, dy_ptr, g_ptr, m_ptr, i_ptr, dx_ptr, dg_ptr, db_ptr, s_ptr)
    return dx


def batch_norm_forward_infer(cnp.ndarray x not None, cnp.ndarray gamma, cnp.ndarray beta, cnp.ndarray mean not None,
                             cnp.ndarray var not None, float eps, cnp.ndarray y not None, cnp.ndarray scratch):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over x (rows, c)."""
    cdef str what = "batch_norm_forward_infer"
    cdef idx_t rows, c, inner
    need_rows(x, what, &rows, &c, &inner)
    for v, name in ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var")):
        if v is not None:
            need_channels(v, c, what, name, False, ())
    need_output(y, (<object>x).shape, what, "y", (x, gamma, beta, mean, var))
    scratch = norm_scratch(scratch, c, what, (x, gamma, beta, mean, var, y))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *g_ptr = optional_ptr(gamma)
    cdef const float *b_ptr = optional_ptr(beta)
    cdef const float *m_ptr = f32_ptr(mean)
    cdef const float *v_ptr = f32_ptr(var)
    cdef float *y_ptr = f32_ptr(y)
    cdef float *s_ptr = f32_ptr(scratch)
    with nogil:
        fnn_batch_norm_forward_infer(rows, c, inner, x_ptr, g_ptr, b_ptr, m_ptr, v_ptr, eps, y_ptr, s_ptr)
    return y


def batch_norm_fold(cnp.ndarray w not None, cnp.ndarray b not None, cnp.ndarray gamma, cnp.ndarray beta,
                    cnp.ndarray mean not None, cnp.ndarray var not None, float eps):
    """In place: w (outer, f, inner) scaled along f by gamma / sqrt(var + eps), b (f,) = (b - mean) * scale + beta."""
    cdef str what = "batch_norm_fold"
    need_rank(w, 3, what, "w")
    cdef idx_t outer = w.shape[0], f = w.shape[1], inner = w.shape[2]
    need_out(w, what, "w")
    need_channels(b, f, what, "b", True, (w,))
    for v, name in ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var")):
        if v is not None:
            need_channels(v, f, what, name, False, ())
            if overlaps(v, w) or overlaps(v, b):
                raise ValueError(f"{what}: {name} must not share memory with w or b")
    cdef float *w_ptr = f32_ptr(w)
    cdef float *b_ptr = f32_ptr(b)
    cdef const float *g_ptr = optional_ptr(gamma)
    cdef const float *be_ptr = optional_ptr(beta)
    cdef const float *m_ptr = f32_ptr(mean)
    cdef const float *v_ptr = f32_ptr(var)
    with nogil:
        fnn_batch_norm_fold(outer, f, inner, w_ptr, b_ptr, g_ptr, be_ptr, m_ptr, v_ptr, eps)


cdef extern from "fastnn.h" nogil:
    void fnn_upsample_nearest_forward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t size_h, idx_t size_w,
                                      const float *x, float *y)
    void fnn_upsample_nearest_backward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t size_h, idx_t size_w,
                                       const float *dy, float *dx)
    void fnn_upsample_bilinear_forward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t out_h, idx_t out_w,
                                       const float *x, float *y)
    void fnn_upsample_bilinear_backward(idx_t n, idx_t h, idx_t w, idx_t c, idx_t out_h, idx_t out_w,
                                        const float *dy, float *dx)


cdef int check_resize(str kind, cnp.ndarray small, cnp.ndarray big, str what) except -1:
    """small (n, h, w, c) and big (n, out_h, out_w, c), both non-empty; nearest needs whole multiples."""
    need_rank(small, 4, what, "x")
    need_rank(big, 4, what, "y")
    if big.shape[0] != small.shape[0] or big.shape[3] != small.shape[3] or \
            min(small.shape[1], small.shape[2], big.shape[1], big.shape[2]) < 1:
        raise ValueError(f"{what}: cannot resize {(<object>small).shape} to {(<object>big).shape}")
    if kind == "nearest" and (big.shape[1] % small.shape[1] or big.shape[2] % small.shape[2]):
        raise ValueError(f"{what}: nearest upsampling needs whole multiples, got {(<object>small).shape} to "
                         f"{(<object>big).shape}")
    if kind not in ("nearest", "bilinear"):
        raise ValueError(f"{what}: interpolation must be 'nearest' or 'bilinear', got {kind!r}")
    return 0


def upsample_forward(str kind, cnp.ndarray x not None, cnp.ndarray y not None):
    """y (n, out_h, out_w, c) = x (n, h, w, c) upsampled, nearest or bilinear (half-pixel centres)."""
    cdef str what = "upsampling2d"
    check_resize(kind, x, y, what)
    need_output(y, (<object>y).shape, what, "y", (x,))
    cdef idx_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3], oh = y.shape[1], ow = y.shape[2]
    cdef const float *x_ptr = f32_ptr(x)
    cdef float *y_ptr = f32_ptr(y)
    cdef bint nearest = kind == "nearest"
    with nogil:
        if nearest:
            fnn_upsample_nearest_forward(n, h, w, c, oh // h, ow // w, x_ptr, y_ptr)
        else:
            fnn_upsample_bilinear_forward(n, h, w, c, oh, ow, x_ptr, y_ptr)
    return y


def upsample_backward(str kind, cnp.ndarray dy not None, cnp.ndarray dx not None):
    """dx (n, h, w, c) for dy (n, out_h, out_w, c) of upsample_forward."""
    cdef str what = "upsampling2d_backward"
    check_resize(kind, dx, dy, what)
    need_output(dx, (<object>dx).shape, what, "dx", (dy,))
    cdef idx_t n = dx.shape[0], h = dx.shape[1], w = dx.shape[2], c = dx.shape[3], oh = dy.shape[1], ow = dy.shape[2]
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    cdef bint nearest = kind == "nearest"
    with nogil:
        if nearest:
            fnn_upsample_nearest_backward(n, h, w, c, oh // h, ow // w, dy_ptr, dx_ptr)
        else:
            fnn_upsample_bilinear_backward(n, h, w, c, oh, ow, dy_ptr, dx_ptr)
    return dx
