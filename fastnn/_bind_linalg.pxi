# Bindings for the GEMM (csrc/gemm/) and the CPU/thread settings (csrc/cpu.c).

cdef extern from "fastnn.h" nogil:
    int fnn_cpu_supports(int simd)
    int fnn_simd_best()
    void fnn_simd_set(int simd)
    int fnn_simd_get()
    void fnn_set_num_threads(int n)
    int fnn_get_num_threads()
    int fnn_openmp_enabled()
    idx_t fnn_stream_min_floats()
    idx_t fnn_prefetch_min_floats()
    void fnn_stream_set_min_floats(idx_t n)
    void fnn_prefetch_set_min_floats(idx_t n)
    ctypedef struct fnn_cache_level:
        idx_t size, ways, line, sets
    int fnn_gemm_blocking_info(const char **kernel, idx_t *blocks, fnn_cache_level *caches)
    double fnn_gemm_peak_gflops(int threads)
    int fnn_sgemm(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
                  const float *a, idx_t lda, const float *b, idx_t ldb,
                  float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha)
    int fnn_dense_backward(idx_t batch, idx_t n_in, idx_t n_out, const float *x, const float *w,
                           const float *y, const float *dy, float *dz, int act, float alpha, float *dw,
                           float *db, float *dx)
    void fnn_sgemm_ref(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
                       const float *a, idx_t lda, const float *b, idx_t ldb,
                       float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha)
    enum:
        FNN_ACTIVATION_SOFTMAX
        FNN_NEEDS_Y
    int fnn_activation_backward_input(int act)

SIMD_PATHS = ("scalar", "avx2", "avx512")


cdef inline int check_epilogue(int act, str name) except -1:
    """act must be an elementwise activation code (every one but softmax, the last)."""
    if not 0 <= act < FNN_ACTIVATION_SOFTMAX:
        raise ValueError(f"{name}: {act} is not the code of an elementwise activation")
    return 0


def cpu_supports(str path):
    return bool(fnn_cpu_supports(SIMD_PATHS.index(path)))


def simd_set(str path):
    if path not in SIMD_PATHS:
        raise ValueError(f"FASTNN_SIMD must be one of {', '.join(SIMD_PATHS)}, got {path!r}")
    if not fnn_cpu_supports(SIMD_PATHS.index(path)):
        raise RuntimeError(f"FASTNN_SIMD={path}: this CPU (or OS) does not support {path}; "
                           f"supported here: {', '.join(p for p in SIMD_PATHS if cpu_supports(p))}")
    fnn_simd_set(SIMD_PATHS.index(path))


def simd_get():
    return SIMD_PATHS[fnn_simd_get()]


def set_num_threads(int n):
    fnn_set_num_threads(n)


def get_num_threads():
    return fnn_get_num_threads()


def openmp_enabled():
    return bool(fnn_openmp_enabled())


def stream_min_floats():
    """Kernel outputs of at least this many floats are written with streaming stores."""
    return fnn_stream_min_floats()


def set_stream_min_floats(idx_t n):
    """Sets that threshold; n <= 0 restores the one derived from the CPU's caches."""
    fnn_stream_set_min_floats(n)


def prefetch_min_floats():
    """Kernels whose inputs hold at least this many floats prefetch them ahead."""
    return fnn_prefetch_min_floats()


def set_prefetch_min_floats(idx_t n):
    """Sets that threshold; n <= 0 restores the one derived from the CPU's caches."""
    fnn_prefetch_set_min_floats(n)


CACHE_SOURCES = ("defaults (caches not detected)", "CPUID", "sysfs")


def gemm_blocking():
    """The GEMM in use: its micro-kernel, register tile (mr x nr), cache blocks (mc, kc, nc) and the
    caches (L1, L2, L3: size, ways, line, sets in bytes and counts) the blocks were derived from."""
    cdef const char *kernel
    cdef idx_t blocks[5]
    cdef fnn_cache_level caches[3]
    source = fnn_gemm_blocking_info(&kernel, blocks, caches)
    return {"kernel": kernel.decode(), "mr": blocks[0], "nr": blocks[1], "mc": blocks[2], "kc": blocks[3],
            "nc": blocks[4], "source": CACHE_SOURCES[source],
            "caches": [{"size": c.size, "ways": c.ways, "line": c.line, "sets": c.sets} for c in caches]}


def fma_peak(int threads=1):
    """GFLOP/s of the active SIMD path's register-only multiply-add loop on `threads` threads at once:
    this machine's ceiling for the GEMM (takes ~0.3 s)."""
    if threads < 1:
        raise ValueError(f"fma_peak: threads must be at least 1, got {threads}")
    cdef double gflops
    with nogil:
        gflops = fnn_gemm_peak_gflops(threads)
    return gflops


def is_f32(x):
    """True when x is a C-contiguous, aligned float32 ndarray: a kernel can take it as it is."""
    return type(x) is cnp.ndarray and is_kernel_array(<cnp.ndarray>x, cnp.NPY_FLOAT32)


def sgemm(cnp.ndarray a not None, cnp.ndarray b not None, cnp.ndarray c=None, bint trans_a=False, bint trans_b=False,
          bint accumulate=False, cnp.ndarray bias=None, int act=0, float alpha=0.0, bint reference=False,
          str name="sgemm"):
    """c = act(op(a) @ op(b) + bias) (c += ... with accumulate); float32, C-contiguous, 2-D. act is an
    elementwise activation code (fastnn.ops.nn.ACTIVATIONS order), alpha its parameter.

    With c None a new (m, n) array is returned. name labels error messages.
    """
    check_f32(a, name)
    check_f32(b, name)
    if cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_NDIM(b) != 2:
        raise ValueError(f"{name}: expected 2-D arrays, got shapes {(<object>a).shape} and {(<object>b).shape}")
    check_epilogue(act, name)
    cdef idx_t m = a.shape[1] if trans_a else a.shape[0]
    cdef idx_t k = a.shape[0] if trans_a else a.shape[1]
    cdef idx_t kb = b.shape[1] if trans_b else b.shape[0]
    cdef idx_t n = b.shape[0] if trans_b else b.shape[1]
    if k != kb:
        raise ValueError(f"{name}: inner dimensions differ: op(a) is ({m}, {k}) and op(b) is ({kb}, {n})")
    cdef cnp.npy_intp dims[2]
    if c is None:
        if accumulate:
            raise ValueError(f"{name}: accumulate=True needs out=")
        dims[0] = m
        dims[1] = n
        c = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0)
    else:
        check_writeable(c, name)
        if cnp.PyArray_NDIM(c) != 2 or c.shape[0] != m or c.shape[1] != n:
            raise ValueError(f"{name}: out has shape {(<object>c).shape}, expected ({m}, {n})")
        if overlaps(a, c) or overlaps(b, c):
            raise ValueError(f"{name}: out must not share memory with an input")
    cdef const float *bias_ptr = NULL
    if bias is not None:
        check_f32(bias, name)
        if cnp.PyArray_NDIM(bias) != 1 or bias.shape[0] != n:
            raise ValueError(f"{name}: bias must have shape ({n},), got {(<object>bias).shape}")
        bias_ptr = f32_ptr(bias)
    cdef idx_t lda = a.shape[1], ldb = b.shape[1]
    cdef const float *a_ptr = f32_ptr(a)
    cdef const float *b_ptr = f32_ptr(b)
    cdef float *c_ptr = f32_ptr(c)
    cdef int status = 0
    with nogil:
        if reference:
            fnn_sgemm_ref(trans_a, trans_b, m, n, k, a_ptr, lda, b_ptr, ldb, c_ptr, n, accumulate, bias_ptr, act,
                          alpha)
        else:
            status = fnn_sgemm(trans_a, trans_b, m, n, k, a_ptr, lda, b_ptr, ldb, c_ptr, n, accumulate, bias_ptr,
                               act, alpha)
    if status != 0:
        raise MemoryError(f"{name}: could not allocate packing buffers")
    return c


cdef inline int check_matrix(cnp.ndarray a, idx_t rows, idx_t cols, str what) except -1:
    if cnp.PyArray_NDIM(a) != 2 or a.shape[0] != rows or a.shape[1] != cols:
        raise ValueError(f"dense_backward: {what} must have shape ({rows}, {cols}), got {(<object>a).shape}")
    return 0


cdef float *gradient_ptr(cnp.ndarray grad, tuple shape, str name) except? NULL:
    """The data of an optional gradient output after checking it (NULL for None)."""
    if grad is None:
        return NULL
    check_writeable(grad, "dense_backward " + name)
    if (<object>grad).shape != shape:
        raise ValueError(f"dense_backward: {name} must have shape {shape}, got {(<object>grad).shape}")
    return f32_ptr(grad)


def dense_backward(cnp.ndarray x not None, cnp.ndarray w not None, cnp.ndarray y, cnp.ndarray dy not None,
                   cnp.ndarray dz, int act, cnp.ndarray dw, cnp.ndarray db, cnp.ndarray dx, float alpha=0.0):
    """Gradients of y = act(x @ w + b) for an act whose backward reads y (or linear): dz = dy * act'(y)
    (into dz), dw = x^T dz, db = column sums of dz, dx = dz w^T; dw, db, dx are written when not None.
    Returns dx."""
    check_f32(x, "dense_backward x")
    check_f32(w, "dense_backward w")
    check_f32(dy, "dense_backward dy")
    if cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_NDIM(w) != 2:
        raise ValueError(f"dense_backward: x and w must be 2-D, got {(<object>x).shape} and {(<object>w).shape}")
    cdef idx_t batch = x.shape[0], n_in = x.shape[1], n_out = w.shape[1]
    check_matrix(w, n_in, n_out, "w")
    check_matrix(dy, batch, n_out, "dy")
    check_epilogue(act, "dense_backward")
    if act != 0 and fnn_activation_backward_input(act) != FNN_NEEDS_Y:
        raise ValueError(f"dense_backward: activation code {act} needs its input for the backward, not y")
    cdef const float *y_ptr = NULL
    cdef float *dz_ptr = NULL
    if act != 0:
        if y is None or dz is None:
            raise ValueError("dense_backward: an activation needs y and dz")
        check_f32(y, "dense_backward y")
        check_matrix(y, batch, n_out, "y")
        check_writeable(dz, "dense_backward dz")
        check_matrix(dz, batch, n_out, "dz")
        y_ptr = f32_ptr(y)
        dz_ptr = f32_ptr(dz)
    cdef float *dw_ptr = gradient_ptr(dw, (n_in, n_out), "dw")
    cdef float *db_ptr = gradient_ptr(db, (n_out,), "db")
    cdef float *dx_ptr = gradient_ptr(dx, (batch, n_in), "dx")
    check_disjoint("dense_backward", [("dz", dz if act != 0 else None), ("dw", dw), ("db", db), ("dx", dx)],
                   [("x", x), ("w", w), ("y", y if act != 0 else None), ("dy", dy)])
    cdef const float *x_ptr = f32_ptr(x)
    cdef const float *w_ptr = f32_ptr(w)
    cdef const float *dy_ptr = f32_ptr(dy)
    cdef int status
    with nogil:
        status = fnn_dense_backward(batch, n_in, n_out, x_ptr, w_ptr, y_ptr, dy_ptr, dz_ptr, act, alpha,
                                    dw_ptr, db_ptr, dx_ptr)
    if status != 0:
        raise MemoryError("dense_backward: could not allocate packing buffers")
    return dx
