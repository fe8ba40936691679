"""Float64 NumPy references for every kernel, and the helpers that check fastnn against them."""
import numpy as np


def gemm(a, b, trans_a=False, trans_b=False, c=None, bias=None, act=None):
    """act(op(a) @ op(b) [+ c] [+ bias]) in float64."""
    a64 = np.asarray(a, np.float64)
    b64 = np.asarray(b, np.float64)
    out = (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)
    if c is not None:
        out = out + np.asarray(c, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return activation(out, act)


def activation(x, name):
    x = np.asarray(x, np.float64)
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))
    if name == "tanh":
        return np.tanh(x)
    raise KeyError(name)


def gemm_tolerance(k, scale=1.0):
    """Float32 rounding grows with the length of each dot product."""
    return 2e-6 * (np.sqrt(max(k, 1)) + 4) * scale
