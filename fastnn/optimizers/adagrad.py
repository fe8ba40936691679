"""Adagrad: steps scaled by the accumulated squares of all past gradients."""
import numpy as np

from ..ops import nn as _nn
from .base import Optimizer, _non_negative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: acc += g^2; p -= lr * g / sqrt(acc + epsilon).

    Args:
        learning_rate: float or schedule.
        initial_accumulator_value: the starting value of every accumulator (>= 0).
        epsilon: added inside the sqrt.
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _non_negative(initial_accumulator_value, "Adagrad: initial_accumulator_value")
        self.epsilon = _non_negative(epsilon, "Adagrad: epsilon")

    def _state_layout(self):
        return (("accumulator", self.initial_accumulator_value),)

    def _zero_gradient_changes_nothing(self):
        # p -= lr * 0 / sqrt(accumulator + epsilon) is p unless the root is 0 (0 / 0 is NaN)
        return np.float32(self.epsilon) > 0 or np.float32(self.initial_accumulator_value) > 0

    def _make_update(self, params, state):
        kernel, epsilon, accumulator = _nn.adagrad_update, self.epsilon, state["accumulator"]

        def update(grads, lr, step, scale):
            kernel(params, grads, accumulator, lr, epsilon, scale)
        return update

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
