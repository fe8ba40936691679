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


cdef class DenseChain:
    """The forward and backward of a chain of Dense layers, each a loop over the layers in C calls.

    In a small model's training step the per-layer Python calls cost more than the GEMMs; this does
    the same calls (fnn_sgemm with the epilogue, fnn_dense_backward) in the same order as the layers'
    own forward and backward, so the results are bitwise theirs. The layers' weight and gradient
    arrays are read at every call (a pack may rebind them) and checked against the fixed shapes.
    Outputs and gradients live in buffers grown to the largest batch.

    Args:
        layers: the Dense layers, first to last (each reads the previous one's output).
        codes, alphas: each layer's epilogue activation (0 for linear).
        first_backward: the lowest layer the backward visits (layers below train nothing).
        need_dx: per layer, whether its backward computes the input gradient.
    """
    cdef list layers, codes, alphas, need_dx, ins, outs
    cdef list ys, dzs, dxs
    cdef idx_t capacity, rows
    cdef int first_backward
    cdef object x, output

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

    cdef void grow(self, idx_t rows):
        self.ys = [np.empty((rows, n), np.float32) for n in self.outs]
        self.dzs = [np.empty((rows, n), np.float32) for n in self.outs]
        self.dxs = [np.empty((rows, n), np.float32) for n in self.ins]
        self.capacity = rows

    def forward(self, cnp.ndarray x not None):
        """The last layer's output for x (rows, inputs of the first layer); kept for backward."""
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
        return self.output

    def backward(self, cnp.ndarray dy not None):
        """Backpropagate dy (the last output's gradient, rows as the last forward) into the layers'
        gradient arrays (frozen layers have none)."""
        cdef idx_t rows = self.rows
        check_layer_array(dy, rows, self.outs[len(self.outs) - 1], "dy")
        cdef Py_ssize_t i
        cdef idx_t n_in, n_out
        cdef const float *g = f32_ptr(dy)
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
