"""RMSprop: steps scaled by a running RMS of recent gradients."""
from ..ops import nn as _nn
from .base import Optimizer, _fraction, _non_negative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running RMS of recent gradients (eps inside the sqrt, as Keras).

    Args:
        learning_rate: float or schedule.
        rho: decay of the running average of squared gradients.
        momentum: momentum of the increments (0 disables).
        epsilon: added to the average before the sqrt.
        centered: divide by the running variance instead (subtract the squared mean gradient).
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _fraction(rho, "RMSprop: rho")
        self.momentum = _fraction(momentum, "RMSprop: momentum")
        self.epsilon = _non_negative(epsilon, "RMSprop: epsilon")
        self.centered = bool(centered)

    def _state_layout(self):
        return ((("velocity", 0.0),) + ((("momentum", 0.0),) if self.momentum > 0 else ())
                + ((("average_gradient", 0.0),) if self.centered else ()))

    def _make_update(self, params, state):
        kernel, rho, momentum, epsilon, centered = _nn.rmsprop_update, self.rho, self.momentum, self.epsilon, \
            self.centered
        velocity, momentum_buf, average = state["velocity"], state.get("momentum"), state.get("average_gradient")

        def update(grads, lr, step, scale):
            kernel(params, grads, velocity, momentum_buf, average, lr, rho, momentum, epsilon, centered, scale)
        return update

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
