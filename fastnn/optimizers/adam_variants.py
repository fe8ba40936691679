"""Nadam (Adam with Nesterov momentum) and Adamax (Adam with the infinity norm), as Keras 3 has them."""
from ..ops import nn as _nn
from .adam import AdamFamily

__all__ = ["Nadam", "Adamax"]


class Nadam(AdamFamily):
    """Nadam: Adam whose first moment looks one step ahead, with Dozat's momentum schedule
    u_t = beta_1 * (1 - 0.5 * 0.96^t), as Keras 3.

    torch.optim.NAdam(momentum_decay=1.0) is the same update (its default momentum_decay=0.004
    stretches the schedule to 0.96^(0.004 t)).

    Args:
        learning_rate: float or schedule.
        beta_1, beta_2: decay rates of the first and second moment estimates, in [0, 1).
        epsilon: added to sqrt(v_hat).
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self._product_at = (0, 1.0)  # (t, u_1 * ... * u_t), extended one step at a time

    def _u_product(self, step):
        """u_1 * ... * u_step in float64: a function of the step alone, so nothing more is saved
        (Keras keeps it as a variable) and a resumed run gets the same bits."""
        known, product = self._product_at
        if known > step:
            known, product = 0, 1.0
        for t in range(known + 1, step + 1):
            product *= self.beta_1 * (1.0 - 0.5 * 0.96 ** t)
        self._product_at = (step, product)
        return product

    def _state_layout(self):
        return (("m", 0.0), ("v", 0.0))

    def _make_update(self, params, state):
        kernel, beta_1, beta_2, epsilon = _nn.nadam_update, self.beta_1, self.beta_2, self.epsilon
        m, v = state["m"], state["v"]

        def update(grads, lr, step, scale):
            kernel(params, grads, m, v, lr, beta_1, beta_2, epsilon, step, self._u_product(step), scale)
        return update


class Adamax(AdamFamily):
    """Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm,
    u = max(beta_2 * u, |g|); p -= lr / (1 - beta_1^t) * m / (u + epsilon), as Keras 3.

    torch.optim.Adamax puts epsilon inside the norm instead (u = max(beta_2 * u, |g| + eps)).

    Args:
        learning_rate: float or schedule.
        beta_1: decay rate of the first moment, in [0, 1).
        beta_2: decay rate of the infinity norm, in [0, 1).
        epsilon: added to u.
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "adamax"

    def _state_layout(self):
        return (("m", 0.0), ("u", 0.0))

    def _make_update(self, params, state):
        kernel, beta_1, beta_2, epsilon = _nn.adamax_update, self.beta_1, self.beta_2, self.epsilon
        m, u = state["m"], state["u"]

        def update(grads, lr, step, scale):
            kernel(params, grads, m, u, lr, beta_1, beta_2, epsilon, step, scale)
        return update
