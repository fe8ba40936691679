# Shared checks for the bindings: every array a kernel touches must pass one of these.

cdef extern from "fastnn.h" nogil:
    ctypedef ptrdiff_t idx_t


cdef inline bint is_kernel_array(cnp.ndarray x, int typenum):
    """x is C-contiguous, of that type and aligned for it. The kernels read elements through typed
    pointers, which C requires to be aligned: np.frombuffer at an odd byte offset makes an array that
    is not (the ops layer copies such inputs; an output or in-place array must be aligned)."""
    return cnp.PyArray_TYPE(x) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_ISALIGNED(x)


cdef inline int check_f32(cnp.ndarray x, str name) except -1:
    """x must be a C-contiguous, aligned float32 array (writeable checks are the caller's): a TypeError
    otherwise, as for any wrong kind of value."""
    if not is_kernel_array(x, cnp.NPY_FLOAT32):
        raise TypeError(f"{name}: expected a C-contiguous, aligned float32 array, got dtype {x.dtype} "
                         f"with strides {(<object>x).strides}" + ("" if cnp.PyArray_ISALIGNED(x) else ", misaligned"))
    return 0


cdef inline int check_writeable(cnp.ndarray x, str name) except -1:
    check_f32(x, name)
    if not cnp.PyArray_ISWRITEABLE(x):
        raise ValueError(f"{name}: the output array is read-only")
    return 0


cdef inline float *f32_ptr(cnp.ndarray x):
    return <float *>cnp.PyArray_DATA(x)


cdef inline bint overlaps(cnp.ndarray x, cnp.ndarray y):
    """Whether two contiguous arrays share any byte (a kernel writing y would change x)."""
    cdef char *x0 = <char *>cnp.PyArray_DATA(x)
    cdef char *y0 = <char *>cnp.PyArray_DATA(y)
    return cnp.PyArray_NBYTES(x) > 0 and cnp.PyArray_NBYTES(y) > 0 and \
        x0 < y0 + cnp.PyArray_NBYTES(y) and y0 < x0 + cnp.PyArray_NBYTES(x)


cdef void extent(cnp.ndarray a, char **lo, char **hi):
    """The bytes [lo, hi) a (possibly strided) array touches."""
    cdef char *start = <char *>cnp.PyArray_DATA(a)
    cdef char *end = start + cnp.PyArray_ITEMSIZE(a)
    cdef int k
    cdef cnp.npy_intp step
    for k in range(cnp.PyArray_NDIM(a)):
        step = cnp.PyArray_STRIDE(a, k) * (cnp.PyArray_DIM(a, k) - 1)
        if step < 0:
            start += step
        else:
            end += step
    lo[0], hi[0] = start, end


cdef bint share_memory(cnp.ndarray a, cnp.ndarray b):
    cdef char *a_lo
    cdef char *a_hi
    cdef char *b_lo
    cdef char *b_hi
    if cnp.PyArray_SIZE(a) == 0 or cnp.PyArray_SIZE(b) == 0:
        return False
    extent(a, &a_lo, &a_hi)
    extent(b, &b_lo, &b_hi)
    return a_lo < b_hi and b_lo < a_hi


cdef int check_disjoint(str what, list outputs, list inputs) except -1:
    """No output may share memory with an input or another output. Each entry is (name, array or None);
    the loops index the lists in place, as this runs on every training step of small models."""
    cdef Py_ssize_t i, j, n_out = len(outputs), n_all = n_out + len(inputs)
    cdef tuple out, other
    for i in range(n_out):
        out = <tuple>outputs[i]
        if out[1] is None:
            continue
        for j in range(i + 1, n_all):
            other = <tuple>(outputs[j] if j < n_out else inputs[j - n_out])
            if other[1] is not None and share_memory(out[1], other[1]):
                raise ValueError(f"{what}: {out[0]} must not share memory with {other[0]}")
    return 0


def contiguous_f32(x):
    """An ndarray of reals as a C-contiguous, aligned float32 array (copied only when needed), else None."""
    if type(x) is not cnp.ndarray:
        return None
    cdef cnp.ndarray arr = <cnp.ndarray>x
    cdef int typenum = cnp.PyArray_TYPE(arr)
    if is_kernel_array(arr, cnp.NPY_FLOAT32):
        return arr
    if not (cnp.PyTypeNum_ISINTEGER(typenum) or cnp.PyTypeNum_ISFLOAT(typenum) or cnp.PyTypeNum_ISBOOL(typenum)):
        return None
    return cnp.PyArray_FROMANY(arr, cnp.NPY_FLOAT32, 0, 0, cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_FORCECAST)
