# Keras's ReLU layer (csrc/nn/relu.c): max_value, negative_slope and threshold, elementwise.

cdef extern from "fastnn.h" nogil:
    void fnn_relu_forward(idx_t n, const float *x, float *y, float negative_slope, float max_value, float threshold)
    void fnn_relu_backward(idx_t n, const float *x, const float *dy, float *dx, float negative_slope,
                           float max_value, float threshold)


def relu_forward(cnp.ndarray x not None, cnp.ndarray y not None, float negative_slope, float max_value,
                 float threshold):
    """y = min(x, max_value) where x > threshold, else negative_slope * (x - threshold); y may be x."""
    cdef str what = "relu_forward"
    need_f32(x, what, "x")
    need_out(y, what, "y")
    check_same_shape(y, "y", x, "x", what)
    if clashes(y, x):
        raise ValueError(f"{what}: y must be x itself or share no memory with it")
    cdef idx_t n = cnp.PyArray_SIZE(x)
    cdef const float *x_ptr = f32_ptr(x)
    cdef float *y_ptr = f32_ptr(y)
    with nogil:
        fnn_relu_forward(n, x_ptr, y_ptr, negative_slope, max_value, threshold)
    return y


def relu_backward(cnp.ndarray x not None, cnp.ndarray dy not None, cnp.ndarray dx not None, float negative_slope,
                  float max_value, float threshold):
    """dx = dy * d relu / dx at x; dx may be dy."""
    cdef str what = "relu_backward"
    need_f32(x, what, "x")
    need_f32(dy, what, "dy")
    need_out(dx, what, "dx")
    check_same_shape(dy, "dy", x, "x", what)
    check_same_shape(dx, "dx", x, "x", what)
    if overlaps(dx, x) or clashes(dx, dy):
        raise ValueError(f"{what}: dx must share no memory with x, and be dy itself or share none with it")
    cdef idx_t n = cnp.PyArray_SIZE(x)
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef float *dx_ptr = f32_ptr(dx)
    with nogil:
        fnn_relu_backward(n, x_ptr, dy_ptr, dx_ptr, negative_slope, max_value, threshold)
    return dx
