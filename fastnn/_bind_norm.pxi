# Layer normalization (csrc/nn/norm.c): rows of (rows, c), each on its own statistics.

cdef extern from "fastnn.h" nogil:
    void fnn_layer_norm_forward(idx_t rows, idx_t c, const float *x, const float *gamma, const float *beta, float eps,
                                float *y, float *mean, float *invstd)
    void fnn_layer_norm_backward(idx_t rows, idx_t c, const float *x, const float *dy, const float *gamma,
                                 const float *mean, const float *invstd, float *dx, float *dgamma, float *dbeta)


cdef int need_matrix(cnp.ndarray x, str what, idx_t *rows, idx_t *c) except -1:
    """x is a C-contiguous float32 (rows, c) with rows, c >= 1."""
    need_rank(x, 2, what, "x")
    rows[0], c[0] = x.shape[0], x.shape[1]
    if rows[0] < 1 or c[0] < 1:
        raise ValueError(f"{what}: x must have at least one row and one column, got shape {(<object>x).shape}")
    return 0


def layer_norm_forward(cnp.ndarray x not None, cnp.ndarray gamma, cnp.ndarray beta, float eps,
                       cnp.ndarray y not None, cnp.ndarray mean not None, cnp.ndarray invstd not None):
    """y = gamma * (x - mean) * invstd + beta per row of x (rows, c); writes mean and invstd (rows,)."""
    cdef str what = "layer_norm_forward"
    cdef idx_t rows, c
    need_matrix(x, what, &rows, &c)
    if not eps > 0.0:
        raise ValueError(f"{what}: eps must be > 0, got {eps}")
    for v, name in ((gamma, "gamma"), (beta, "beta")):
        if v is not None:
            need_channels(v, c, what, name, False, ())
    need_output(y, (<object>x).shape, what, "y", (x, gamma, beta))
    need_channels(mean, rows, what, "mean", True, (x, gamma, beta, y))
    need_channels(invstd, rows, what, "invstd", True, (x, gamma, beta, y, mean))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *g_ptr = optional_ptr(gamma)
    cdef const float *b_ptr = optional_ptr(beta)
    cdef float *y_ptr = f32_ptr(y)
    cdef float *m_ptr = f32_ptr(mean)
    cdef float *i_ptr = f32_ptr(invstd)
    with nogil:
        fnn_layer_norm_forward(rows, c, x_ptr, g_ptr, b_ptr, eps, y_ptr, m_ptr, i_ptr)
    return y


def layer_norm_backward(cnp.ndarray x not None, cnp.ndarray dy not None, cnp.ndarray gamma,
                        cnp.ndarray mean not None, cnp.ndarray invstd not None, cnp.ndarray dx, cnp.ndarray dgamma,
                        cnp.ndarray dbeta):
    """dx (rows, c), dgamma and dbeta (c,) of a layer normalization; each output may be None."""
    cdef str what = "layer_norm_backward"
    cdef idx_t rows, c
    need_matrix(x, what, &rows, &c)
    need_f32(dy, what, "dy")
    check_same_shape(dy, "dy", x, "x", what)
    if gamma is not None:
        need_channels(gamma, c, what, "gamma", False, ())
    need_channels(mean, rows, what, "mean", False, ())
    need_channels(invstd, rows, what, "invstd", False, ())
    cdef tuple inputs = (x, dy, gamma, mean, invstd)
    if dx is not None:
        need_output(dx, (<object>x).shape, what, "dx", inputs)
    if dgamma is not None:
        need_channels(dgamma, c, what, "dgamma", True, inputs + (dx,))
    if dbeta is not None:
        need_channels(dbeta, c, what, "dbeta", True, inputs + (dx, dgamma))
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef const float *g_ptr = optional_ptr(gamma)
    cdef const float *m_ptr = f32_ptr(mean)
    cdef const float *i_ptr = f32_ptr(invstd)
    cdef float *dx_ptr = nullable_ptr(dx)
    cdef float *dg_ptr = nullable_ptr(dgamma)
    cdef float *db_ptr = nullable_ptr(dbeta)
    with nogil:
        fnn_layer_norm_backward(rows, c, x_ptr, dy_ptr, g_ptr, m_ptr, i_ptr, dx_ptr, dg_ptr, db_ptr)
    return dx
