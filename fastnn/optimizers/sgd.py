"""SGD: gradient descent with optional (Nesterov) momentum."""
from ..ops import nn as _nn
from .base import Optimizer, _fraction

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    v = momentum * v - lr * g; p += v (Nesterov: p += momentum * v - lr * g); without momentum p -= lr * g.

    Args:
        learning_rate: float or schedule.
        momentum: in [0, 1].
        nesterov: use Nesterov momentum.
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _fraction(momentum, "SGD: momentum")
        self.nesterov = bool(nesterov)

    def _state_layout(self):
        return (("momentum", 0.0),) if self.momentum > 0 else ()

    def _zero_gradient_changes_nothing(self):
        return self.momentum == 0

    def _make_update(self, params, state):
        kernel, momentum, nesterov = _nn.sgd_update, self.momentum, self.nesterov
        velocity = state.get("momentum")

        def update(grads, lr, step, scale):
            kernel(params, grads, velocity, lr, momentum, nesterov, scale)
        return update

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
