"""Learning-rate schedules (Keras semantics): lr = schedule(step), step = optimizer iterations so far.

Also reachable as fastnn.optimizers.schedules.
"""
import math

from ._registry import Configurable as _Configurable
from ._registry import Registry as _Registry

__all__ = ["LearningRateSchedule", "ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay", "get",
           "serialize", "deserialize"]


def _check_positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


class LearningRateSchedule(_Configurable):
    """Base of the schedules: __call__(step) -> learning rate as a float, and a config."""

    def __call__(self, step):
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: steps per factor of decay_rate (positive int).
        decay_rate: the factor.
        staircase: decay in whole steps (floor(step / decay_steps)).
        name: kept in the config.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _check_positive_int(decay_steps, "ExponentialDecay: decay_steps")
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate ** exponent

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the initial rate (or warmup_target) to alpha times it, with optional linear warmup.

    Without warmup: lr = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))
    + alpha). With warmup_target: the rate rises linearly from initial_learning_rate to warmup_target over
    warmup_steps, then decays from warmup_target over decay_steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: length of the decay (positive int).
        alpha: the final rate as a fraction of the decayed-from rate.
        name: kept in the config.
        warmup_target: the rate reached at the end of warmup, or None for no warmup.
        warmup_steps: length of the warmup.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _check_positive_int(decay_steps, "CosineDecay: decay_steps")
        self.alpha = float(alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be a non-negative int, got {warmup_steps!r}")
        self.warmup_steps = warmup_steps

    def _decayed(self, step, start_rate):
        fraction = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return start_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decayed(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * (
                step / self.warmup_steps)
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i], ...

    Args:
        boundaries: increasing step numbers.
        values: one more rate than boundaries.
        name: kept in the config.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values needs exactly one more entry than boundaries, "
                             f"got {len(values)} values and {len(boundaries)} boundaries")
        if any(later <= earlier for earlier, later in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


_registry = _Registry("learning rate schedule", LearningRateSchedule)
_registry.add(ExponentialDecay)
_registry.add(CosineDecay)
_registry.add(PiecewiseConstantDecay, "PiecewiseConstant")


get = _registry.get
serialize = _registry.serialize
deserialize = _registry.deserialize
