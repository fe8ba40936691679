# A chain of dense layers trained through one binding call each way (fastnn/engine/dense_chain.py).


cdef inline int check_layer_array(object a, idx_t rows, idx_t cols, str what) except -1:
    """a is a C-contiguous float32 array of shape (rows, cols) (cols < 0: 1-D of length rows)."""
    if type(a) is not cnp.ndarray:
        raise TypeError(f"dense chain: {what} must be an ndarray, got {type(a).__name__}")
    check_f32(<cnp.ndarray>a, "dense chain " + what)
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cols < 0:
        if cnp.PyArray_NDIM(arr) != 1 or arr.shape[0] != rows:
            raise ValueError(f"dense chain: {what} must have shape ({rows},), got {a.shape}")
    elif cnp.PyArray_NDIM(arr) != 2 or arr.shape[0] != rows or arr.shape[1] != cols:
        raise ValueError(f"dense chain: {what} must have shape ({rows}, {cols}), got {a.shape}")
    return 0


cdef inline bint is_loss_array(object a, idx_t rows, idx_t cols):
    """a is a float32 array the loss kernel reads as it is: C-contiguous, aligned, of shape (rows, cols)
    (cols < 0: (rows,))."""
    if type(a) is not cnp.ndarray or not is_kernel_array(<cnp.ndarray>a, cnp.NPY_FLOAT32):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cols < 0:
        return cnp.PyArray_NDIM(arr) == 1 and arr.shape[0] == rows
    return cnp.PyArray_NDIM(arr) == 2 and arr.shape[0] == rows and arr.shape[1] == cols


cdef class DenseChain:
    """The forward and backward of a chain of Dense layers, each a loop over the layers in C calls.

    In a small model's training step the per-layer Python calls cost more than the GEMMs; this does
    the same calls (fnn_sgemm with the epilogue, fnn_dense_backward) in the same order as the layers'
    own forward and backward, so the results are bitwise theirs. The layers' weight and gradient
    arrays are read at every call (a pack may rebind them) and checked against the fixed shapes.
    Outputs and gradients live in buffers grown to the largest batch.

    With a pointwise loss (set_loss), loss_step runs forward, the loss kernel and backward in one call.

    Args:
        layers: the Dense layers, first to last (each reads the previous one's output).
        codes, alphas: each layer's epilogue activation (0 for linear).
        first_backward: the lowest layer the backward visits (layers below train nothing).
        need_dx: per layer, whether its backward computes the input gradient.
    """
    cdef list layers, codes, alphas, need_dx, ins, outs
    cdef list ys, dzs, dxs
    cdef idx_t capacity, rows
    cdef int first_backward, loss_code
    cdef fnn_loss_options loss_options
    cdef object x, loss_grad
    cdef readonly object output

    def __init__(self, list layers, list codes, list alphas, int first_backward, list need_dx):
        self.layers = layers
        self.codes = codes
        self.alphas = alphas
        self.first_backward = first_backward
        self.need_dx = need_dx
        self.ins = [int(layer.kernel.shape[0]) for layer in layers]
        self.outs = [int(layer.kernel.shape[1]) for layer in layers]
        self.capacity = 0
        self.rows = -1
        self.loss_code = -1

    def set_loss(self, int code, float delta=1.0, float gamma=2.0, float alpha_pos=1.0, float alpha_neg=1.0):
        """The pointwise loss (a POINTWISE_LOSSES code and its options) that loss_step applies to the output."""
        if not FNN_LOSS_MSE <= code <= FNN_LOSS_FOCAL_LOGITS:
            raise ValueError(f"dense chain: unknown loss code {code}")
        self.loss_code = code
        self.loss_options = fnn_loss_options(delta, gamma, alpha_pos, alpha_neg)

    cdef void grow(self, idx_t rows):
        self.ys = [np.empty((rows, n), np.float32) for n in self.outs]
        self.dzs = [np.empty((rows, n), np.float32) for n in self.outs]
        self.dxs = [np.empty((rows, n), np.float32) for n in self.ins]
        self.loss_grad = np.empty((rows, self.outs[len(self.outs) - 1]), np.float32)
        self.capacity = rows

    def forward(self, cnp.ndarray x not None):
        """The last layer's output for x (rows, inputs of the first layer); kept for backward."""
        self.run_forward(x)
        return self.output

    cdef int run_forward(self, cnp.ndarray x) except -1:
        cdef idx_t rows = x.shape[0] if cnp.PyArray_NDIM(x) == 2 else 0
        check_layer_array(x, rows, self.ins[0], "x")
        if rows > self.capacity:
            self.grow(rows)
        cdef Py_ssize_t i
        cdef idx_t n_in, n_out
        cdef const float *h = f32_ptr(x)
        cdef const float *bias_ptr
        cdef const float *w_ptr
        cdef float *y_ptr
        cdef int status = 0, code
        cdef float alpha
        for i in range(len(self.layers)):
            layer = self.layers[i]
            n_in, n_out = self.ins[i], self.outs[i]
            check_layer_array(layer.kernel, n_in, n_out, "kernel")
            w_ptr = f32_ptr(layer.kernel)
            bias_ptr = NULL
            if layer.bias is not None:
                check_layer_array(layer.bias, n_out, -1, "bias")
                bias_ptr = f32_ptr(layer.bias)
            y_ptr = f32_ptr(self.ys[i])
            code, alpha = self.codes[i], self.alphas[i]
            with nogil:
                status |= fnn_sgemm(0, 0, rows, n_out, n_in, h, n_in, w_ptr, n_out, y_ptr, n_out, 0, bias_ptr, code,
                                    alpha)
            h = y_ptr
        if status != 0:
            raise MemoryError("dense chain: could not allocate packing buffers")
        if rows != self.rows:
            self.rows = rows
            self.output = self.ys[len(self.ys) - 1][:rows]
        self.x = x
        return 0

    def backward(self, cnp.ndarray dy not None):
        """Backpropagate dy (the last output's gradient, rows as the last forward) into the layers'
        gradient arrays (frozen layers have none)."""
        check_layer_array(dy, self.rows, self.outs[len(self.outs) - 1], "dy")
        self.run_backward(f32_ptr(dy))

    def loss_step(self, cnp.ndarray x not None, object y_true, object sample_weight):
        """forward, the loss set by set_loss (its gradient into a buffer of the chain) and backward, in one
        call; returns the loss as fnn_loss_pointwise gives it. Returns None, having run nothing, when
        y_true and sample_weight are not in the layout the kernel reads as they are (float32 C-contiguous,
        y_true of the output's shape, one weight per row): the caller then takes the general path."""
        if self.loss_code < 0:
            raise ValueError("dense chain: loss_step needs set_loss first")
        cdef idx_t rows = x.shape[0] if cnp.PyArray_NDIM(x) == 2 else 0
        cdef idx_t cols = self.outs[len(self.outs) - 1]
        if not is_loss_array(y_true, rows, cols) or sample_weight is not None and \
                not is_loss_array(sample_weight, rows, -1):
            return None
        self.run_forward(x)
        cdef const float *t_ptr = f32_ptr(<cnp.ndarray>y_true)
        cdef const float *p_ptr = f32_ptr(<cnp.ndarray>self.output)
        cdef const float *w_ptr = NULL if sample_weight is None else f32_ptr(<cnp.ndarray>sample_weight)
        cdef float *g_ptr = f32_ptr(<cnp.ndarray>self.loss_grad)
        cdef double value
        with nogil:
            value = fnn_loss_pointwise(self.loss_code, rows, cols, t_ptr, p_ptr, w_ptr, g_ptr, &self.loss_options)
        self.run_backward(g_ptr)
        return value

    cdef int run_backward(self, const float *g) except -1:
        cdef idx_t rows = self.rows
        cdef Py_ssize_t i
        cdef idx_t n_in, n_out
        cdef const float *x_ptr
        cdef const float *w_ptr
        cdef const float *y_ptr
        cdef float *dz_ptr
        cdef float *dw_ptr
        cdef float *db_ptr
        cdef float *dx_ptr
        cdef int status = 0, code
        cdef float alpha
        for i in range(len(self.layers) - 1, self.first_backward - 1, -1):
            layer = self.layers[i]
            n_in, n_out = self.ins[i], self.outs[i]
            check_layer_array(layer.kernel, n_in, n_out, "kernel")
            w_ptr = f32_ptr(layer.kernel)
            y_ptr = f32_ptr(self.ys[i])
            dz_ptr = f32_ptr(self.dzs[i])
            grads = layer._grads
            dw_ptr = db_ptr = NULL
            if grads[0] is not None:
                check_layer_array(grads[0], n_in, n_out, "kernel gradient")
                dw_ptr = f32_ptr(grads[0])
            if len(grads) > 1 and grads[1] is not None:
                check_layer_array(grads[1], n_out, -1, "bias gradient")
                db_ptr = f32_ptr(grads[1])
            dx_ptr = f32_ptr(self.dxs[i]) if self.need_dx[i] else NULL
            x_ptr = f32_ptr(self.x) if i == 0 else f32_ptr(self.ys[i - 1])
            code, alpha = self.codes[i], self.alphas[i]
            with nogil:
                status |= fnn_dense_backward(rows, n_in, n_out, x_ptr, w_ptr, y_ptr, g, dz_ptr, code, alpha, dw_ptr,
                                             db_ptr, dx_ptr)
            g = dx_ptr
        if status != 0:
            raise MemoryError("dense chain: could not allocate packing buffers")
        return 0
