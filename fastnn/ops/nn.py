"""Activations, losses, reductions and optimizer updates on fastnn's C kernels.

These run several times per training step, so each wrapper starts with a fast path, taken when its
inputs are already what the binding needs (C-contiguous float32 ndarrays, int64 labels, default
options): it hands them straight to the binding, which checks dtypes, contiguity, shapes and overlaps
in C and raises clear errors. Anything else takes the slow path, which converts and explains.
"""
import math

import numpy as np

from .. import _C
from .._C import empty_like_f32, is_f32, is_i64
from ._convert import as_float32, check_out

__all__ = [
    "ACTIVATIONS", "activation_forward", "activation_backward", "activation_backward_input", "bias_grad",
    "loss_mse", "loss_mae", "loss_huber", "loss_binary_crossentropy", "loss_categorical_crossentropy",
    "loss_sparse_categorical_crossentropy",
    "sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "decay_weights", "l2_norm", "clip_values",
    "ACCURACY_KINDS", "accuracy_counts",
]

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus", "softmax")
_ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
# Keras's defaults for the activations that take a parameter.
_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
_BACKWARD_INPUT = {name: _C.activation_backward_input(code) for name, code in _ACTIVATION_CODES.items()}
_F32 = np.dtype(np.float32)
# The fast paths' view of the tables above: name -> (code, default alpha[, which input backward reads]).
_FORWARD_FAST = {name: (code, _DEFAULT_ALPHA.get(name, 0.0)) for name, code in _ACTIVATION_CODES.items()}
_BACKWARD_FAST = {name: (code, alpha, _BACKWARD_INPUT[name]) for name, (code, alpha) in _FORWARD_FAST.items()}


def _f32(x, what):
    """x as a C-contiguous float32 ndarray, without a copy when it already is one."""
    if is_f32(x):
        return x
    x = as_float32(x, what)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)  # (ascontiguousarray makes 0-d 1-d)


def _activation(name, alpha, what):
    code = _ACTIVATION_CODES.get(name) if type(name) is str else None
    if code is None:
        raise ValueError(f"{what}: unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    if alpha is None:
        return code, _DEFAULT_ALPHA.get(name, 0.0)
    if name not in _DEFAULT_ALPHA:
        raise ValueError(f"{what}: alpha only applies to leaky_relu and elu, not {name}")
    alpha = float(alpha)
    if name == "elu" and not alpha >= 0.0:
        raise ValueError(f"{what}: elu needs alpha >= 0 (its backward reads y), got {alpha}")
    return code, alpha


def activation_backward_input(name):
    """Which array activation_backward(name, ...) reads besides dy: 'x', 'y' or None (linear).

    relu, elu, sigmoid, tanh and softmax read their output y; leaky_relu, gelu, silu and softplus
    read their input x.
    """
    if name not in _BACKWARD_INPUT:
        raise ValueError(f"activation_backward_input: unknown activation {name!r}; "
                         f"expected one of {', '.join(ACTIVATIONS)}")
    return _BACKWARD_INPUT[name]


def activation_forward(name, x, out=None, alpha=None):
    """y = activation(x) in float32.

    Args:
        name: one of ACTIVATIONS. softmax normalises over the last axis.
        x: array-like of any shape (at least 1-D for softmax).
        out: optional C-contiguous float32 array of x's shape; may be x itself (in place).
        alpha: leaky_relu's negative slope (default 0.2) or elu's alpha (default 1.0, must be >= 0).

    Returns:
        y, float32, shaped like x.

    Example:
        >>> fastnn.ops.activation_forward("relu", np.array([-1.0, 2.0]))
        array([0., 2.], dtype=float32)
    """
    if alpha is None and type(name) is str and is_f32(x) and (out is None or is_f32(out)):
        fast = _FORWARD_FAST.get(name)
        if fast is not None:
            return _C.activation_forward(fast[0], x, out, fast[1])
    code, alpha = _activation(name, alpha, "activation_forward")
    x = _f32(x, "activation_forward: x")
    if out is None:
        out = np.empty(x.shape, _F32)
    else:
        check_out(out, x.shape, "activation_forward")
    return _C.activation_forward(code, x, out, alpha)


def activation_backward(name, x, y, dy, out=None, alpha=None):
    """dx = dy * activation'(x) in float32.

    Args:
        name: one of ACTIVATIONS.
        x: the activation's input; read by leaky_relu, gelu, silu, softplus (None is fine otherwise).
        y: the activation's output; read by relu, elu, sigmoid, tanh, softmax (None is fine otherwise).
        dy: the gradient with respect to y.
        out: optional C-contiguous float32 array of dy's shape; may be dy itself (in place).
        alpha: as in activation_forward.

    Returns:
        dx, float32, shaped like dy.

    The derivative of relu at 0 is taken as 0 and of elu at 0 as alpha (the left-hand limits).
    """
    if alpha is None and type(name) is str and is_f32(dy) and (out is None or is_f32(out)):
        fast = _BACKWARD_FAST.get(name)
        if fast is not None:
            code, default_alpha, needs = fast
            x = x if needs == "x" else None  # the binding must not see what the kernel does not read
            y = y if needs == "y" else None
            if needs is None or is_f32(x if needs == "x" else y):
                return _C.activation_backward(code, x, y, dy, out, default_alpha)
    code, alpha = _activation(name, alpha, "activation_backward")
    dy = _f32(dy, "activation_backward: dy")
    needs = _BACKWARD_INPUT[name]
    if needs == "x":
        if x is None:
            raise ValueError(f"activation_backward: {name} needs x (the activation's input), got None")
        x = _f32(x, "activation_backward: x")
        if x.shape != dy.shape:
            raise ValueError(f"activation_backward: x has shape {x.shape} but dy has shape {dy.shape}")
        y = None
    elif needs == "y":
        if y is None:
            raise ValueError(f"activation_backward: {name} needs y (the activation's output), got None")
        y = _f32(y, "activation_backward: y")
        if y.shape != dy.shape:
            raise ValueError(f"activation_backward: y has shape {y.shape} but dy has shape {dy.shape}")
        x = None
    else:
        x = y = None
    if out is None:
        out = np.empty(dy.shape, _F32)
    else:
        check_out(out, dy.shape, "activation_backward")
    return _C.activation_backward(code, x, y, dy, out, alpha)


def bias_grad(dy, out=None):
    """Column sums of dy: the gradient of a bias added along dy's last axis.

    Args:
        dy: (B, N) array-like (more leading axes are summed too).
        out: optional C-contiguous float32 array of shape (N,).

    Returns:
        (N,) float32. Each column is summed in float64 in row order, so the result does not depend on
        the thread count.
    """
    if is_f32(dy) and (out is None or is_f32(out)):
        return _C.bias_grad(dy, out)
    dy = _f32(dy, "bias_grad: dy")
    if dy.ndim < 2:
        raise ValueError(f"bias_grad: dy must be at least 2-D (batch, units), got shape {dy.shape}")
    if out is None:
        out = np.empty(dy.shape[-1:], _F32)
    else:
        check_out(out, dy.shape[-1:], "bias_grad")
    return _C.bias_grad(dy, out)


# ---- losses ----

_I64 = np.dtype(np.int64)
_MSE, _MAE, _HUBER, _BCE, _BCE_LOGITS = (_C.POINTWISE_LOSSES[k] for k in (
    "mse", "mae", "huber", "binary_crossentropy", "binary_crossentropy_from_logits"))


def _direct(y_pred, sample_weight, grad_out):
    """Whether y_pred, sample_weight and grad_out can go to a loss binding as they are (the fast path;
    y_true or labels are checked by the caller). Weights of lower rank than y_pred.shape[:-1] must be
    broadcast first, which the slow path does."""
    return is_f32(y_pred) and (grad_out is None or is_f32(grad_out)) and (
        sample_weight is None or is_f32(sample_weight) and sample_weight.ndim + 1 >= y_pred.ndim)


def _row_weights(sample_weight, lead, what):
    """sample_weight as one float32 weight per row of y_pred (lead = y_pred.shape[:-1])."""
    w = _f32(sample_weight, f"{what}: sample_weight")
    if w.shape == lead:
        return w
    if w.shape == lead + (1,):
        return w.reshape(lead)
    if w.ndim < len(lead) and lead[:w.ndim] == w.shape:
        # (B,) weights for (B, T, C) predictions weigh every step of a sample, as Keras broadcasts them
        return np.ascontiguousarray(np.broadcast_to(w.reshape(w.shape + (1,) * (len(lead) - w.ndim)), lead))
    raise ValueError(f"{what}: sample_weight must have shape {lead} (one weight per sample), got {w.shape}")


def _loss_inputs(y_true, y_pred, sample_weight, grad_out, what):
    """(y_pred, sample weights or None, grad buffer) with y_pred at least 1-D, its last axis non-empty."""
    y_pred = _f32(y_pred, f"{what}: y_pred")
    shape = y_pred.shape
    if not shape or shape[-1] == 0:
        raise ValueError(f"{what}: y_pred must be at least 1-D with a non-empty last axis, got shape {shape}")
    w = None if sample_weight is None else _row_weights(sample_weight, shape[:-1], what)
    if grad_out is None:
        grad = np.empty(shape, _F32)
    else:
        grad = check_out(grad_out, shape, what)
    return y_pred, w, grad


def _targets(y_true, shape, what):
    """y_true as float32 of y_pred's shape; like Keras, a trailing axis of size 1 may be missing or extra."""
    y_true = _f32(y_true, f"{what}: y_true")
    if y_true.shape == shape:
        return y_true
    if y_true.shape + (1,) == shape or y_true.shape == shape + (1,):
        return y_true.reshape(shape)
    raise ValueError(f"{what}: y_true has shape {y_true.shape} but y_pred has shape {shape}")


def _pointwise(code, what, y_true, y_pred, sample_weight, grad_out, delta=1.0):
    if is_f32(y_true) and _direct(y_pred, sample_weight, grad_out):
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return _C.loss_pointwise(code, y_true, y_pred, sample_weight, grad, delta), grad
    y_pred, w, grad = _loss_inputs(y_true, y_pred, sample_weight, grad_out, what)
    y_true = _targets(y_true, y_pred.shape, what)
    return _C.loss_pointwise(code, y_true, y_pred, w, grad, delta), grad


def loss_mse(y_true, y_pred, sample_weight=None, grad_out=None):
    """Mean squared error and its gradient in one pass.

    Args:
        y_true: targets, shaped like y_pred.
        y_pred: (B, ..., D) predictions; the per-sample loss is the mean over the last axis.
        sample_weight: optional (B, ...) weight per sample.
        grad_out: optional C-contiguous float32 array of y_pred's shape to receive the gradient
            (may be y_pred itself).

    Returns:
        (loss, grad): loss is a float (Keras's sum_over_batch_size: the weighted per-sample losses
        summed and divided by the number of samples); grad = d loss / d y_pred, float32.
    """
    return _pointwise(_MSE, "loss_mse", y_true, y_pred, sample_weight, grad_out)


def loss_mae(y_true, y_pred, sample_weight=None, grad_out=None):
    """Mean absolute error and its gradient (sign(y_pred - y_true), 0 where equal); as loss_mse."""
    return _pointwise(_MAE, "loss_mae", y_true, y_pred, sample_weight, grad_out)


def loss_huber(y_true, y_pred, sample_weight=None, grad_out=None, delta=1.0):
    """Huber loss (quadratic for |error| <= delta, linear beyond) and its gradient; as loss_mse."""
    delta = float(delta)
    if not 0.0 <= delta < float("inf"):
        raise ValueError(f"loss_huber: delta must be a finite number >= 0, got {delta}")
    return _pointwise(_HUBER, "loss_huber", y_true, y_pred, sample_weight, grad_out, delta)


def loss_binary_crossentropy(y_true, y_pred, sample_weight=None, grad_out=None, from_logits=False):
    """Binary crossentropy and its gradient; the per-sample loss is the mean over the last axis.

    Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; where y_pred lies outside that range
    the gradient is 0 (the clip's derivative). With from_logits=True, y_pred holds logits z, the loss
    uses the stable form max(z, 0) - z*y + log(1 + exp(-|z|)) and grad = (sigmoid(z) - y_true) * w / (B*D).
    Otherwise as loss_mse.
    """
    code = _BCE_LOGITS if from_logits else _BCE
    if is_f32(y_true) and _direct(y_pred, sample_weight, grad_out):  # _pointwise's fast path, one call less
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return _C.loss_pointwise(code, y_true, y_pred, sample_weight, grad), grad
    return _pointwise(code, "loss_binary_crossentropy", y_true, y_pred, sample_weight, grad_out)


def loss_categorical_crossentropy(y_true, y_pred, sample_weight=None, grad_out=None, from_logits=False):
    """Categorical crossentropy over the last axis and its gradient.

    Args:
        y_true: (B, ..., C) target distributions (e.g. one-hot).
        y_pred: (B, ..., C) probabilities (normalised per row then clipped to [1e-7, 1 - 1e-7] as
            Keras does) or, with from_logits=True, logits z (fused log-softmax).
        sample_weight, grad_out: as in loss_mse.

    Returns:
        (loss, grad). With from_logits grad = (softmax(z) * sum(y_true) - y_true) * w / B, which is
        (softmax(z) - y_true) * w / B for targets that sum to 1. Without it, probabilities that are
        clipped pass no gradient.
    """
    if is_f32(y_true) and _direct(y_pred, sample_weight, grad_out):
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return _C.loss_categorical(y_true, y_pred, sample_weight, grad, from_logits), grad
    what = "loss_categorical_crossentropy"
    y_pred, w, grad = _loss_inputs(y_true, y_pred, sample_weight, grad_out, what)
    y_true = _targets(y_true, y_pred.shape, what)
    return _C.loss_categorical(y_true, y_pred, w, grad, bool(from_logits)), grad


def _labels(labels, lead, what):
    """Integer class labels as a C-contiguous int64 array with one label per row of y_pred."""
    if type(labels) is np.ndarray and labels.dtype is _I64 and labels.flags.c_contiguous:
        lab = labels
    else:
        lab = np.asarray(labels)
        if lab.dtype.kind in "iu":
            lab = np.ascontiguousarray(lab, dtype=_I64)
        elif lab.dtype.kind == "f":
            as_int = lab.astype(_I64)
            if not np.array_equal(as_int, lab):
                raise ValueError(f"{what}: labels must be whole numbers (class indices)")
            lab = as_int
        else:
            raise TypeError(f"{what}: labels must be integer class indices, got dtype {lab.dtype}")
    if lab.shape != lead and lab.shape != lead + (1,):
        raise ValueError(f"{what}: labels must have shape {lead} (or {lead + (1,)}), got {lab.shape}")
    return lab


def loss_sparse_categorical_crossentropy(labels, y_pred, sample_weight=None, grad_out=None, from_logits=False):
    """Categorical crossentropy against integer labels, and its gradient.

    Args:
        labels: (B, ...) or (B, ..., 1) integer class indices in [0, C); any other value is a ValueError.
        y_pred: (B, ..., C) probabilities or, with from_logits=True, logits.
        sample_weight, grad_out: as in loss_mse.

    Returns:
        (loss, grad) as loss_categorical_crossentropy with one-hot targets.
    """
    if is_i64(labels) and _direct(y_pred, sample_weight, grad_out):
        grad = empty_like_f32(y_pred) if grad_out is None else grad_out
        return _C.loss_sparse_categorical(labels, y_pred, sample_weight, grad, from_logits), grad
    what = "loss_sparse_categorical_crossentropy"
    y_pred, w, grad = _loss_inputs(labels, y_pred, sample_weight, grad_out, what)
    lab = _labels(labels, y_pred.shape[:-1], what)
    return _C.loss_sparse_categorical(lab, y_pred, w, grad, bool(from_logits)), grad


# ---- optimizer updates and reductions ----

def _param(p, what, name="p"):
    """An array updated in place: it must already be a C-contiguous float32 ndarray."""
    if not is_f32(p):
        kind = f"dtype {p.dtype}" if isinstance(p, np.ndarray) else type(p).__name__
        raise TypeError(f"{what}: {name} is updated in place, so it must be a C-contiguous float32 ndarray; "
                        f"got {kind}")
    return p


def sgd_update(p, g, velocity, lr, momentum=0.0, nesterov=False, grad_scale=1.0):
    """One SGD step in place (Keras 3): with momentum v = momentum*v - lr*g, then p += v, or with
    nesterov p += momentum*v - lr*g; without momentum p -= lr*g. g is multiplied by grad_scale first.

    Args:
        p: float32 parameters (flat), updated in place.
        g: gradients, same size.
        velocity: float32 state of p's size, or None when momentum == 0 (ignored then).
        lr, momentum, nesterov, grad_scale: the step's hyperparameters.
    """
    if is_f32(p) and is_f32(g) and (momentum == 0.0 or is_f32(velocity)):
        return _C.sgd_update(p, g, velocity, lr, momentum, nesterov, grad_scale)
    _param(p, "sgd_update")
    if momentum != 0.0:
        _param(velocity, "sgd_update", "velocity")
    _C.sgd_update(p, _f32(g, "sgd_update: g"), velocity, lr, momentum, nesterov, grad_scale)


def adam_update(p, g, m, v, vhat, lr, beta1, beta2, eps, step, grad_scale=1.0):
    """One Adam step in place (Keras 3; AdamW = decay_weights first):
    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); with amsgrad vhat = max(vhat, v) is used for v;
    p -= lr * sqrt(1 - b2^step) / (1 - b1^step) * m / (sqrt(v) + eps).

    Args:
        p, g: parameters (updated in place) and gradients.
        m, v: float32 moment estimates of p's size; vhat: the same for amsgrad, else None.
        step: the 1-based number of this step.
    """
    if is_f32(p) and is_f32(g) and is_f32(m) and is_f32(v) and (vhat is None or is_f32(vhat)):
        return _C.adam_update(p, g, m, v, vhat, lr, beta1, beta2, eps, step, grad_scale)
    _param(p, "adam_update")
    _param(m, "adam_update", "m")
    _param(v, "adam_update", "v")
    if vhat is not None:
        _param(vhat, "adam_update", "vhat")
    _C.adam_update(p, _f32(g, "adam_update: g"), m, v, vhat, lr, beta1, beta2, eps, step, grad_scale)


def rmsprop_update(p, g, velocity, momentum_buf, average_grad, lr, rho, momentum, eps, centered, grad_scale=1.0):
    """One RMSprop step in place (Keras 3): velocity = rho*velocity + (1-rho) g^2; centered keeps
    average_grad = rho*avg + (1-rho) g and divides by sqrt(velocity - avg^2 + eps), else by
    sqrt(velocity + eps); the increment lr*g/sqrt(.) goes through momentum_buf when momentum > 0.

    momentum_buf may be None unless momentum > 0, average_grad None unless centered.
    """
    if is_f32(p) and is_f32(g) and is_f32(velocity) and (momentum <= 0.0 or is_f32(momentum_buf)) and (
            not centered or is_f32(average_grad)):
        return _C.rmsprop_update(p, g, velocity, momentum_buf, average_grad, lr, rho, momentum, eps, centered,
                                 grad_scale)
    _param(p, "rmsprop_update")
    _param(velocity, "rmsprop_update", "velocity")
    if momentum > 0.0:
        _param(momentum_buf, "rmsprop_update", "momentum_buf")
    if centered:
        _param(average_grad, "rmsprop_update", "average_grad")
    _C.rmsprop_update(p, _f32(g, "rmsprop_update: g"), velocity, momentum_buf, average_grad,
                      lr, rho, momentum, eps, centered, grad_scale)


def adagrad_update(p, g, accumulator, lr, eps, grad_scale=1.0):
    """One Adagrad step in place (Keras 3): accumulator += g^2; p -= lr*g/sqrt(accumulator + eps)."""
    if is_f32(p) and is_f32(g) and is_f32(accumulator):
        return _C.adagrad_update(p, g, accumulator, lr, eps, grad_scale)
    _param(p, "adagrad_update")
    _param(accumulator, "adagrad_update", "accumulator")
    _C.adagrad_update(p, _f32(g, "adagrad_update: g"), accumulator, lr, eps, grad_scale)


def decay_weights(p, factor):
    """Decoupled weight decay in place: p -= p * factor (factor = learning_rate * weight_decay)."""
    _C.decay_weights(p if is_f32(p) else _param(p, "decay_weights"), factor)


def clip_values(x, limit):
    """Clip x in place to [-limit, limit] (limit >= 0); NaN stays NaN."""
    _C.clip_values(x if is_f32(x) else _param(x, "clip_values", "x"), limit)


def l2_norm(x):
    """The Euclidean norm of all of x's values as a float, summed in float64 in fixed chunks, so it
    does not depend on the thread count."""
    return math.sqrt(_C.sum_squares(x if is_f32(x) else _f32(x, "l2_norm: x")))


# ---- accuracy metrics ----

ACCURACY_KINDS = tuple(_C.ACCURACY_KINDS)
_ACCURACY_CODES = _C.ACCURACY_KINDS
_SPARSE_ACCURACY = {_ACCURACY_CODES["sparse_categorical"], _ACCURACY_CODES["sparse_top_k"]}


def accuracy_counts(kind, y_true, y_pred, sample_weight=None, threshold=0.5, k=1):
    """The weighted hits and total weight of one batch for an accuracy metric, in one pass.

    Args:
        kind: one of ACCURACY_KINDS: 'binary' (the fraction of a sample's values where
            y_true == (y_pred > threshold)), 'categorical' (argmax y_true == argmax y_pred), 'sparse_categorical'
            (label == argmax y_pred), 'top_k' / 'sparse_top_k' (fewer than k scores exceed the target
            class's; ties count as in).
        y_true: targets of y_pred's shape (a trailing axis of size 1 may be missing or extra, as Keras
            allows; a 1-D pair holds one value per sample), or for the sparse kinds integer labels of
            shape y_pred.shape[:-1] (or with a trailing 1).
        y_pred: (B, ..., C) predictions.
        sample_weight: None, or one weight per sample.
        threshold: the decision threshold of 'binary'.
        k: how many top scores count for the top-k kinds.

    Returns:
        (hits, total) floats: sum of w * hit and sum of w (the number of samples when unweighted),
        summed in sample order in float64.
    """
    code = _ACCURACY_CODES.get(kind) if type(kind) is str else None
    if code is None:
        raise ValueError(f"accuracy_counts: unknown kind {kind!r}; expected one of {', '.join(ACCURACY_KINDS)}")
    sparse = code in _SPARSE_ACCURACY
    if is_f32(y_pred) and (is_i64(y_true) if sparse else is_f32(y_true)) and (
            sample_weight is None or is_f32(sample_weight)):
        return _C.accuracy_counts(code, y_true, y_pred, sample_weight, threshold, k)
    y_pred = _f32(y_pred, "accuracy_counts: y_pred")
    if sparse:
        labels = np.asarray(y_true)
        if labels.dtype.kind not in "biuf":
            raise TypeError(f"accuracy_counts: labels must be integer class indices, got dtype {labels.dtype}")
        y_true = np.ascontiguousarray(labels, dtype=_I64)  # float labels are truncated, as Keras casts them
    else:
        y_true = _f32(y_true, "accuracy_counts: y_true")
    if sample_weight is not None:
        sample_weight = _f32(sample_weight, "accuracy_counts: sample_weight")
    return _C.accuracy_counts(code, y_true, y_pred, sample_weight, threshold, k)
