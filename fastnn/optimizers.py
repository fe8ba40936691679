"""Keras 3 optimizers over one flat float32 vector of all parameters.

A model keeps every parameter in one flat vector (layer weights are views into it) and every gradient in
another, so a step is: evaluate the learning rate, clip, decay the weights, then ONE fused update kernel
over the whole vector. Everything a step needs is prepared in build(), so apply() costs a few attribute
lookups plus the kernel.

Example:
    >>> opt = fastnn.optimizers.Adam(1e-3)
    >>> opt.build(flat_params, [(0, (4, 3)), (12, (3,))])
    >>> opt.apply(flat_grads)     # params updated in place, opt.iterations == 1
"""
import math

import numpy as np

from . import schedules
from ._registry import Registry as _Registry
from .ops import nn as _nn
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "schedules", "get", "serialize",
           "deserialize"]

# Keras 3 optimizer arguments fastnn accepts only at their defaults, so Keras configs still load.
_UNSUPPORTED_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                         "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _positive_or_none(value, what):
    if value is None:
        return None
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{what} must be a positive finite number or None, got {value!r}")
    return value


def _fraction(value, what, upper_open=False):
    value = float(value)
    if not (0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{what} must be in [0, 1{')' if upper_open else ']'}, got {value!r}")
    return value


class Optimizer:
    """Base of the optimizers: learning rate (float or schedule), clipping, weight decay, state.

    Args:
        learning_rate: a float or a schedules.LearningRateSchedule, evaluated at `iterations`
            (the number of steps taken before this one).
        weight_decay: decoupled decay: before each update p -= p * learning_rate * weight_decay.
        clipnorm: clip each variable's gradient to this L2 norm.
        clipvalue: clip every gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip the gradient of all variables together to this L2 norm.
        name: kept in the config.

    At most one of clipnorm, clipvalue and global_clipnorm may be set (as Keras). The Keras arguments
    use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor and gradient_accumulation_steps
    are accepted at their defaults only.
    """

    _default_name = "optimizer"

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **keras_only):
        kind = type(self).__name__
        for key, value in keras_only.items():
            if key not in _UNSUPPORTED_DEFAULTS:
                raise TypeError(f"{kind}: unexpected argument {key!r}")
            if value != _UNSUPPORTED_DEFAULTS[key]:
                raise ValueError(f"{kind}: {key}={value!r} is not supported (only {_UNSUPPORTED_DEFAULTS[key]!r})")
        self.clipnorm = _positive_or_none(clipnorm, f"{kind}: clipnorm")
        self.clipvalue = _positive_or_none(clipvalue, f"{kind}: clipvalue")
        self.global_clipnorm = _positive_or_none(global_clipnorm, f"{kind}: global_clipnorm")
        if sum(c is not None for c in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError(f"{kind}: only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if weight_decay is not None:
            weight_decay = float(weight_decay)
            if not weight_decay >= 0 or math.isinf(weight_decay):
                raise ValueError(f"{kind}: weight_decay must be a non-negative number or None, got {weight_decay}")
        self.weight_decay = weight_decay
        self.name = self._default_name if name is None else str(name)
        self._schedule = None
        self._lr = None
        self.learning_rate = learning_rate
        self.iterations = 0
        self._params = None
        self._state = {}

    # -- learning rate ----------------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at `iterations`)."""
        if self._schedule is not None:
            return float(self._schedule(self.iterations))
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            self._schedule, self._lr = value, None
            return
        if self._schedule is not None:
            raise TypeError(f"{type(self).__name__}: the learning rate comes from a {type(self._schedule).__name__} "
                            f"schedule and cannot be set to a number")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"{type(self).__name__}: learning_rate must be a number or a LearningRateSchedule, "
                            f"got {type(value).__name__}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be finite and >= 0, got {value}")
        self._lr = float(value)

    # -- building and stepping --------------------------------------------------------------------------
    def build(self, flat_params, slices):
        """Attach to the flat parameter vector and allocate the optimizer state (zeroed, or as the optimizer
        starts it).

        Args:
            flat_params: writeable 1-D C-contiguous float32 vector holding every parameter; updated in place.
            slices: list of (offset, shape) per variable, in model.get_weights() order (used by clipnorm).
        """
        kind = type(self).__name__
        if (not isinstance(flat_params, np.ndarray) or flat_params.dtype != np.float32 or flat_params.ndim != 1
                or not flat_params.flags.c_contiguous or not flat_params.flags.writeable):
            raise TypeError(f"{kind}.build: flat_params must be a writeable 1-D C-contiguous float32 array")
        size = flat_params.shape[0]
        ranges = []
        for entry in slices:
            try:
                offset, shape = entry
                count = math.prod(int(d) for d in shape)
            except (TypeError, ValueError):
                raise ValueError(f"{kind}.build: each slice must be (offset, shape), got {entry!r}") from None
            if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0 \
                    or offset + count > size:
                raise ValueError(f"{kind}.build: slice {entry!r} does not fit in {size} parameters")
            ranges.append(slice(int(offset), int(offset) + count))
        self._params = flat_params
        self._ranges = ranges
        self._state = {name: np.full(size, fill, dtype=np.float32) for name, fill in self._state_layout()}
        self._update = self._make_update(flat_params, self._state)
        if self.clipvalue is not None:
            self._clip = self._clip_value
        elif self.clipnorm is not None:
            self._clip = self._clip_per_variable
        elif self.global_clipnorm is not None:
            self._clip = self._clip_global
        else:
            self._clip = None

    @property
    def built(self):
        return self._params is not None

    def apply(self, flat_grads):
        """One optimization step with the flat gradient vector (clipping may rescale it in place).

        Args:
            flat_grads: 1-D C-contiguous float32 vector, the same length as the parameters.
        """
        params = self._params
        if params is None:
            raise ValueError(f"{type(self).__name__}.apply: call build(flat_params, slices) first")
        # the kernel checks dtype, rank and contiguity; the size matters earlier, for per-variable clipping
        if type(flat_grads) is not np.ndarray or flat_grads.size != params.size:
            raise ValueError(f"{type(self).__name__}.apply: flat_grads must be an ndarray of shape {params.shape}, "
                             f"got {getattr(flat_grads, 'shape', type(flat_grads).__name__)}")
        step = self.iterations
        lr = self._lr if self._schedule is None else float(self._schedule(step))
        scale = 1.0 if self._clip is None else self._clip(flat_grads)
        if self.weight_decay:
            _nn.decay_weights(params, lr * self.weight_decay)
        self._update(flat_grads, lr, step + 1, scale)
        self.iterations = step + 1

    def _clip_value(self, grads):
        _nn.clip_values(grads, self.clipvalue)
        return 1.0

    def _clip_per_variable(self, grads):
        # grad_scale is one scalar for the whole vector, so each variable is rescaled in place here.
        limit = self.clipnorm
        for part in self._ranges:
            view = grads[part]
            norm = _nn.l2_norm(view)
            if norm > limit:
                view *= limit / norm
        return 1.0

    def _clip_global(self, grads):
        norm = _nn.l2_norm(grads)
        return self.global_clipnorm / norm if norm > self.global_clipnorm else 1.0

    # -- state ------------------------------------------------------------------------------------------
    def state_arrays(self):
        """The optimizer's state buffers by name (live arrays, not copies); iterations excluded."""
        return dict(self._state)

    def set_state(self, iterations, arrays):
        """Restore iterations and every state buffer exactly (training then resumes bitwise identically).

        Args:
            iterations: the number of steps already taken.
            arrays: name -> array of state_arrays()'s names and sizes.
        """
        kind = type(self).__name__
        if not self.built:
            raise ValueError(f"{kind}.set_state: call build(flat_params, slices) first")
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
            raise ValueError(f"{kind}.set_state: iterations must be a non-negative int, got {iterations!r}")
        if set(arrays) != set(self._state):
            raise ValueError(f"{kind}.set_state: expected state arrays {sorted(self._state)}, got {sorted(arrays)}")
        checked = {}
        for name, buffer in self._state.items():
            value = np.asarray(arrays[name])
            if value.size != buffer.size or value.dtype.kind != "f":
                raise ValueError(f"{kind}.set_state: {name!r} must hold {buffer.size} floats, got "
                                 f"shape {value.shape} dtype {value.dtype}")
            checked[name] = value.reshape(-1)
        for name, value in checked.items():  # copy only once everything is known to fit
            np.copyto(self._state[name], value, casting="same_kind")
        self.iterations = int(iterations)

    def _state_layout(self):
        """(name, initial value) for each state buffer."""
        return ()

    def _make_update(self, params, state):
        """A function (grads, lr, step, grad_scale) that runs the fused update kernel."""
        raise NotImplementedError

    # -- config -----------------------------------------------------------------------------------------
    def get_config(self):
        lr = schedules.serialize(self._schedule) if self._schedule is not None else self._lr
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                **_UNSUPPORTED_DEFAULTS}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.get_config()['learning_rate']!r}, name={self.name!r})"


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

    def _make_update(self, params, state):
        kernel, momentum, nesterov = _nn.sgd_update, self.momentum, self.nesterov
        velocity = state.get("momentum")

        def update(grads, lr, step, scale):
            kernel(params, grads, velocity, lr, momentum, nesterov, scale)
        return update

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras's epsilon-hat form, optionally AMSGrad.

    Args:
        learning_rate: float or schedule.
        beta_1, beta_2: decay rates of the first and second moment estimates, in [0, 1).
        epsilon: added to sqrt(v) (after bias correction of the step size, as Keras).
        amsgrad: use the running maximum of v.
        **kwargs: the base Optimizer arguments.
    """

    _default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, f"{type(self).__name__}: beta_1", upper_open=True)
        self.beta_2 = _fraction(beta_2, f"{type(self).__name__}: beta_2", upper_open=True)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _state_layout(self):
        return (("m", 0.0), ("v", 0.0)) + ((("vhat", 0.0),) if self.amsgrad else ())

    def _make_update(self, params, state):
        kernel, beta_1, beta_2, epsilon = _nn.adam_update, self.beta_1, self.beta_2, self.epsilon
        m, v, vhat = state["m"], state["v"], state.get("vhat")

        def update(grads, lr, step, scale):
            kernel(params, grads, m, v, vhat, lr, beta_1, beta_2, epsilon, step, scale)
        return update

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004, as Keras); see Adam for the arguments."""

    _default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


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
        self.epsilon = float(epsilon)
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
        self.initial_accumulator_value = float(initial_accumulator_value)
        if not self.initial_accumulator_value >= 0:
            raise ValueError(f"Adagrad: initial_accumulator_value must be >= 0, got {initial_accumulator_value!r}")
        self.epsilon = float(epsilon)

    def _state_layout(self):
        return (("accumulator", self.initial_accumulator_value),)

    def _make_update(self, params, state):
        kernel, epsilon, accumulator = _nn.adagrad_update, self.epsilon, state["accumulator"]

        def update(grads, lr, step, scale):
            kernel(params, grads, accumulator, lr, epsilon, scale)
        return update

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_registry = _Registry("optimizer", Optimizer)
_registry.add(SGD, "sgd")
_registry.add(Adam, "adam")
_registry.add(AdamW, "adamw")
_registry.add(RMSprop, "rmsprop")
_registry.add(Adagrad, "adagrad")


def get(identifier):
    """An optimizer from a name ('sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'), an instance or a config."""
    return _registry.get(identifier)


def serialize(optimizer):
    """{'class_name': ..., 'config': ...} for an optimizer (its state is not included)."""
    return _registry.serialize(optimizer)


def deserialize(data):
    """Inverse of serialize: a fresh, unbuilt optimizer."""
    return _registry.deserialize(data)
