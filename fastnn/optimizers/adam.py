"""Adam and AdamW (Adam with decoupled weight decay)."""
from ..ops import nn as _nn
from .base import Optimizer, _fraction, _non_negative

__all__ = ["Adam", "AdamW"]


class AdamFamily(Optimizer):
    """The arguments Adam, Nadam and Adamax share (Keras 3 defaults)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        kind = type(self).__name__
        self.beta_1 = _fraction(beta_1, f"{kind}: beta_1", upper_open=True)
        self.beta_2 = _fraction(beta_2, f"{kind}: beta_2", upper_open=True)
        self.epsilon = _non_negative(epsilon, f"{kind}: epsilon")

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adam(AdamFamily):
    """Adam (Kingma & Ba) with Keras's epsilon-hat form, optionally AMSGrad.

    Args:
        learning_rate: float or schedule.
        beta_1, beta_2: decay rates of the first and second moment estimates, in [0, 1).
        epsilon: added to sqrt(v) (after bias correction of the step size, as Keras).
        amsgrad: use the running maximum of v.
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "adam"
    _decay_fused = True  # the kernel decays each parameter in the pass that updates it

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    def _state_layout(self):
        return (("m", 0.0), ("v", 0.0)) + ((("vhat", 0.0),) if self.amsgrad else ())

    def _make_update(self, params, state):
        kernel, beta_1, beta_2, epsilon = _nn.adam_update, self.beta_1, self.beta_2, self.epsilon
        m, v, vhat = state["m"], state["v"], state.get("vhat")

        def update(grads, lr, step, scale):
            decay = lr * self.weight_decay if self.weight_decay else 0.0
            kernel(params, grads, m, v, vhat, lr, beta_1, beta_2, epsilon, step, scale, decay)
        return update

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004, as Keras); see Adam for the arguments."""

    _default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)
