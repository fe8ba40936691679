"""Matrix products on fastnn's GEMM: matmul and the fused dense layer."""
import numpy as np

from .. import _C
from .._C import is_f32
from ._convert import as_float32, as_matrix, check_out
from .activations import ACTIVATIONS, activation_backward_input, activation_parameter

# Every elementwise activation runs in the GEMM epilogue (softmax, a row op, does not).
EPILOGUE_ACTIVATIONS = ACTIVATIONS[:ACTIVATIONS.index("softmax")]
# name -> (code, default parameter), for the forward and for dense_backward (which has only y)
_FORWARD = {name: (code, activation_parameter(name, None, "")) for code, name in enumerate(EPILOGUE_ACTIVATIONS)}
_FORWARD[None] = _FORWARD["linear"]
_BACKWARD = {name: entry for name, entry in _FORWARD.items() if name is None or activation_backward_input(name) != "x"}


def _epilogue(activation, alpha, what, backward=False):
    """(code, alpha) of an epilogue activation, or a ValueError naming the ones allowed."""
    table = _BACKWARD if backward else _FORWARD
    entry = table.get(activation) if activation is None or type(activation) is str else None
    if entry is None:
        allowed = [name for name in table if name is not None]
        raise ValueError(f"{what}: activation must be None or one of {', '.join(allowed)}, got {activation!r}")
    return entry if alpha is None else (entry[0], activation_parameter(activation, alpha, what))


def epilogue_code(activation, alpha=None):
    """(code, alpha) that the GEMM bindings take for an elementwise activation name (or None)."""
    return _epilogue(activation, alpha, "epilogue_code")


def _gemm(a, b, trans_a, trans_b, out, accumulate, bias, act, alpha, what):
    """The general path: convert array-likes, take F-ordered operands as transposes, check out."""
    a, a_flipped = as_matrix(a, f"{what}: a")
    b, b_flipped = as_matrix(b, f"{what}: b")
    trans_a, trans_b = bool(trans_a) != a_flipped, bool(trans_b) != b_flipped
    if out is not None:
        m = a.shape[1] if trans_a else a.shape[0]
        n = b.shape[0] if trans_b else b.shape[1]
        check_out(out, (m, n), what)
    return _C.sgemm(a, b, out, trans_a, trans_b, accumulate, bias, act, alpha, False, what)


def matmul(a, b, *, trans_a=False, trans_b=False, out=None, accumulate=False):
    """Matrix product op(a) @ op(b) in float32.

    Args:
        a: (M, K) array-like, or (K, M) with trans_a=True.
        b: (K, N) array-like, or (N, K) with trans_b=True.
        trans_a, trans_b: use the transpose of a or b.
        out: optional (M, N) C-contiguous float32 array to write into.
        accumulate: add the product to out instead of overwriting it.

    Returns:
        The (M, N) float32 result.

    Example:
        >>> fastnn.ops.matmul(np.ones((2, 3)), np.ones((3, 4))).shape
        (2, 4)
    """
    if is_f32(a) and is_f32(b) and (out is None or is_f32(out)):
        return _C.sgemm(a, b, out, trans_a, trans_b, accumulate, None, 0, 0.0, False, "matmul")
    return _gemm(a, b, trans_a, trans_b, out, accumulate, None, 0, 0.0, "matmul")


def dense(x, w, b=None, activation=None, *, out=None, alpha=None):
    """act(x @ w + b) with the bias and activation fused into the GEMM.

    Args:
        x: (N, K) inputs.
        w: (K, M) kernel.
        b: optional (M,) bias.
        activation: None or any elementwise activation of fastnn.ops.nn.ACTIVATIONS (all but softmax),
            applied to each result tile while it is still in cache.
        out: optional (N, M) C-contiguous float32 array to write into.
        alpha: leaky_relu's slope or elu's alpha (Keras's defaults 0.2 and 1.0 when None).

    Returns:
        The (N, M) float32 result.
    """
    act, alpha = _epilogue(activation, alpha, "dense")
    if is_f32(x) and is_f32(w) and (b is None or is_f32(b)) and (out is None or is_f32(out)):
        return _C.sgemm(x, w, out, False, False, False, b, act, alpha, False, "dense")
    bias = None
    if b is not None:
        bias = np.ascontiguousarray(as_float32(b, "dense: b"))
        w_cols = np.shape(w)[-1] if np.ndim(w) == 2 else None
        if bias.ndim != 1 or bias.shape[0] != w_cols:
            raise ValueError(f"dense: b must have shape ({w_cols},), got {bias.shape}")
    return _gemm(x, w, False, False, out, False, bias, act, alpha, "dense")


def dense_backward(x, w, dy, y=None, activation=None, alpha=None):
    """Gradients of y = act(x @ w + b) in one call.

    Args:
        x: (N, K) inputs of the forward.
        w: (K, M) kernel.
        dy: (N, M) gradient with respect to y.
        y: (N, M) forward output; needed with an activation.
        activation: None or the forward's fused activation, one whose backward reads only y: linear,
            relu, elu, sigmoid or tanh.
        alpha: elu's alpha, as in dense.

    Returns:
        (dx, dw, db): float32 arrays of shapes (N, K), (K, M), (M,). They do not depend on the thread count.
    """
    x, w, dy = (np.ascontiguousarray(as_float32(v, f"dense_backward: {n}")) for v, n in ((x, "x"), (w, "w"), (dy, "dy")))
    y = None if y is None else np.ascontiguousarray(as_float32(y, "dense_backward: y"))
    if x.ndim != 2 or w.ndim != 2 or dy.ndim != 2:
        raise ValueError(f"dense_backward: x, w and dy must be 2-D, got {x.shape}, {w.shape} and {dy.shape}")
    f32 = np.float32
    dw, db, dx = np.empty(w.shape, f32), np.empty(w.shape[1:], f32), np.empty(x.shape, f32)
    dz = np.empty(dy.shape, f32) if activation not in (None, "linear") else None
    dense_backward_into(x, w, dy, y, activation, dz=dz, dw=dw, db=db, dx=dx, alpha=alpha)
    return dx, dw, db


def dense_backward_into(x, w, dy, y, activation, *, dz, dw, db, dx, alpha=None):
    """dense_backward writing into given float32 C-contiguous arrays; an output given as None is skipped.

    dz (N, M) is scratch for dy * act'(y), needed with an activation. Returns dx.
    """
    act, alpha = _epilogue(activation, alpha, "dense_backward", backward=True)
    return _C.dense_backward(x, w, y, dy, dz if act else None, act, dw, db, dx, alpha)
