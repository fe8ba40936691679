"""The Optimizer base: learning rate or schedule, gradient clipping, decoupled weight decay, state and config.

A subclass names its state buffers (_state_layout) and returns the closure that runs its fused update
kernel (_make_update); everything else about a step lives here. A subclass whose kernel applies the
decoupled weight decay in its own pass (Adam) sets _decay_fused and decays in that closure.
"""
import math

import numpy as np

from .. import schedules
from ..ops import nn as _nn
from ..schedules import LearningRateSchedule

__all__ = ["Optimizer"]

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
    _decay_fused = False

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **keras_only):
        kind = type(self).__name__
        if "lr" in keras_only:
            raise TypeError(f"{kind}: the argument 'lr' is called learning_rate in Keras 3 and fastnn; "
                            f"use {kind}(learning_rate={keras_only['lr']!r})")
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
        if self.weight_decay and not self._decay_fused:
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
