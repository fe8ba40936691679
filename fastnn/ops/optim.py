"""Optimizer updates on fastnn's C kernels, fused over a whole parameter array and done in place, and the
clipping, weight decay and norm a step needs around them."""
import math

import numpy as np

from .. import _C
from .._C import is_f32
from ._convert import as_float32_operand

__all__ = ["sgd_update", "adam_update", "nadam_update", "adamax_update", "rmsprop_update", "adagrad_update", "decay_weights", "l2_norm",
           "clip_values"]


def _param(p, what, name="p"):
    """An array updated in place: it must already be a C-contiguous float32 ndarray."""
    if not is_f32(p):
        kind = f"dtype {p.dtype}" if isinstance(p, np.ndarray) else type(p).__name__
        raise TypeError(f"{what}: {name} is updated in place, so it must be a C-contiguous, aligned float32 ndarray; "
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
    _C.sgd_update(p, as_float32_operand(g, "sgd_update: g"), velocity, lr, momentum, nesterov, grad_scale)


def adam_update(p, g, m, v, vhat, lr, beta1, beta2, eps, step, grad_scale=1.0, decay=0.0):
    """One Adam step in place (Keras 3), AdamW's decoupled decay fused in when decay is not 0:
    p -= p * decay; m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); with amsgrad vhat = max(vhat, v) is
    used for v; p -= lr * sqrt(1 - b2^step) / (1 - b1^step) * m / (sqrt(v) + eps). One pass over the
    arrays, bitwise equal to decay_weights(p, decay) followed by the Adam step.

    Args:
        p, g: parameters (updated in place) and gradients.
        m, v: float32 moment estimates of p's size; vhat: the same for amsgrad, else None.
        step: the 1-based number of this step.
        grad_scale: factor applied to g first (clipping by global norm).
        decay: decoupled weight decay factor, learning_rate * weight_decay (0 for plain Adam).
    """
    if is_f32(p) and is_f32(g) and is_f32(m) and is_f32(v) and (vhat is None or is_f32(vhat)):
        return _C.adam_update(p, g, m, v, vhat, lr, beta1, beta2, eps, step, grad_scale, decay)
    _param(p, "adam_update")
    _param(m, "adam_update", "m")
    _param(v, "adam_update", "v")
    if vhat is not None:
        _param(vhat, "adam_update", "vhat")
    _C.adam_update(p, as_float32_operand(g, "adam_update: g"), m, v, vhat, lr, beta1, beta2, eps, step, grad_scale,
                   decay)


def nadam_update(p, g, m, v, lr, beta1, beta2, eps, step, u_product, grad_scale=1.0):
    """One Nadam step in place (Keras 3): with u_t = beta1 (1 - 0.5 * 0.96^t),
    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product);
    p -= lr * m_hat / (sqrt(v / (1 - b2^t)) + eps).

    Args:
        p, g: parameters (updated in place) and gradients.
        m, v: float32 moment estimates of p's size.
        step: the 1-based number of this step (t).
        u_product: u_1 * u_2 * ... * u_t, the running product the caller keeps.
        grad_scale: factor applied to g first (clipping by global norm).
    """
    if is_f32(p) and is_f32(g) and is_f32(m) and is_f32(v):
        return _C.nadam_update(p, g, m, v, lr, beta1, beta2, eps, step, u_product, grad_scale)
    _param(p, "nadam_update")
    _param(m, "nadam_update", "m")
    _param(v, "nadam_update", "v")
    _C.nadam_update(p, as_float32_operand(g, "nadam_update: g"), m, v, lr, beta1, beta2, eps, step, u_product,
                    grad_scale)


def adamax_update(p, g, m, u, lr, beta1, beta2, eps, step, grad_scale=1.0):
    """One Adamax step in place (Keras 3): m += (g - m)(1 - b1); u = max(b2 u, |g|) (NaN kept);
    p -= lr / (1 - b1^step) * m / (u + eps). Arguments as nadam_update; u is the infinity-norm state."""
    if is_f32(p) and is_f32(g) and is_f32(m) and is_f32(u):
        return _C.adamax_update(p, g, m, u, lr, beta1, beta2, eps, step, grad_scale)
    _param(p, "adamax_update")
    _param(m, "adamax_update", "m")
    _param(u, "adamax_update", "u")
    _C.adamax_update(p, as_float32_operand(g, "adamax_update: g"), m, u, lr, beta1, beta2, eps, step, grad_scale)


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
    _C.rmsprop_update(p, as_float32_operand(g, "rmsprop_update: g"), velocity, momentum_buf, average_grad,
                      lr, rho, momentum, eps, centered, grad_scale)


def adagrad_update(p, g, accumulator, lr, eps, grad_scale=1.0):
    """One Adagrad step in place (Keras 3): accumulator += g^2; p -= lr*g/sqrt(accumulator + eps)."""
    if is_f32(p) and is_f32(g) and is_f32(accumulator):
        return _C.adagrad_update(p, g, accumulator, lr, eps, grad_scale)
    _param(p, "adagrad_update")
    _param(accumulator, "adagrad_update", "accumulator")
    _C.adagrad_update(p, as_float32_operand(g, "adagrad_update: g"), accumulator, lr, eps, grad_scale)


def decay_weights(p, factor):
    """Decoupled weight decay in place: p -= p * factor (factor = learning_rate * weight_decay)."""
    _C.decay_weights(p if is_f32(p) else _param(p, "decay_weights"), factor)


def clip_values(x, limit):
    """Clip x in place to [-limit, limit] (limit >= 0); NaN stays NaN."""
    _C.clip_values(x if is_f32(x) else _param(x, "clip_values", "x"), limit)


def l2_norm(x):
    """The Euclidean norm of all of x's values as a float, summed in float64 in fixed chunks, so it
    does not depend on the thread count."""
    return math.sqrt(_C.sum_squares(x if is_f32(x) else as_float32_operand(x, "l2_norm: x")))
