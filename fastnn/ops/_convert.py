"""Turning user input into the float32 C-contiguous arrays the kernels take, with clear errors."""
import numpy as np

from .._C import contiguous_f32, is_f32


def as_float32(x, what):
    """x as an aligned float32 ndarray, without a copy when it already is one; TypeError for non-numbers.
    (A float32 array at an odd byte offset, from np.frombuffer, is copied: kernels need aligned floats.)"""
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.aligned:
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and objects numpy refuses
        raise TypeError(f"{what}: expected an array of real numbers, got {type(x).__name__}: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected an array of real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float32)


def as_contiguous_float32(x, what):
    """x as a C-contiguous float32 ndarray (at most one copy); TypeError for non-numbers."""
    converted = contiguous_f32(x)
    return converted if converted is not None else np.ascontiguousarray(as_float32(x, what))


def as_float32_operand(x, what):
    """x as a C-contiguous float32 ndarray for a kernel, without a copy when it already is one; a 0-d x
    stays 0-d (as_contiguous_float32 makes it 1-d)."""
    if is_f32(x):
        return x
    x = as_float32(x, what)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def as_matrix(x, what):
    """A 2-D float32 operand as (C-contiguous array, transposed flag), avoiding copies of views.

    A Fortran-ordered matrix, such as w.T of a C-ordered w, is passed as its C-ordered transpose.
    """
    arr = as_float32(x, what)
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array, got shape {arr.shape}")
    if arr.flags.c_contiguous:
        return arr, False
    if arr.flags.f_contiguous:
        return arr.T, True
    return np.ascontiguousarray(arr), False


def check_out(out, shape, what):
    """A user-given output must be a writeable, C-contiguous, aligned float32 array of the result's shape."""
    if not is_f32(out):
        raise TypeError(f"{what}: out must be a C-contiguous, aligned float32 ndarray")
    if out.shape != shape:
        raise ValueError(f"{what}: out has shape {out.shape}, expected {shape}")
    return out
