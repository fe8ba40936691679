# Shared checks for the bindings: every array a kernel touches must pass one of these.

cdef extern from "fastnn.h" nogil:
    ctypedef ptrdiff_t idx_t


cdef inline int check_f32(cnp.ndarray x, str name) except -1:
    """x must be a C-contiguous float32 array (writeable checks are the caller's): a TypeError otherwise,
    as for any wrong kind of value."""
    if cnp.PyArray_TYPE(x) != cnp.NPY_FLOAT32 or not cnp.PyArray_IS_C_CONTIGUOUS(x):
        raise TypeError(f"{name}: expected a C-contiguous float32 array, got dtype {x.dtype} "
                         f"with strides {(<object>x).strides}")
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


def contiguous_f32(x):
    """An ndarray of reals as a C-contiguous float32 array (copied only when needed), else None."""
    if type(x) is not cnp.ndarray:
        return None
    cdef cnp.ndarray arr = <cnp.ndarray>x
    cdef int typenum = cnp.PyArray_TYPE(arr)
    if typenum == cnp.NPY_FLOAT32 and cnp.PyArray_IS_C_CONTIGUOUS(arr):
        return arr
    if not (cnp.PyTypeNum_ISINTEGER(typenum) or cnp.PyTypeNum_ISFLOAT(typenum) or cnp.PyTypeNum_ISBOOL(typenum)):
        return None
    return cnp.PyArray_FROMANY(arr, cnp.NPY_FLOAT32, 0, 0, cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_FORCECAST)
