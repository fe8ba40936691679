"""The Optimizer base: learning rate or schedule, gradient clipping, decoupled weight decay, state and config.

A subclass names its state buffers (_state_layout) and returns the closure that runs its fused update
kernel (_make_update); everything else about a step lives here. A subclass whose kernel applies the
decoupled weight decay in its own pass (Adam) sets _decay_fused and decays in that closure.
"""
import math
import warnings

import numpy as np

from .. import schedules
from ..ops import nn as _nn
from ..schedules import LearningRateSchedule

__all__ = ["Optimizer", "LearningRateValue"]


class LearningRateValue(float):
    """The learning rate an optimizer reports: a float that also answers what code written for Keras
    asks of its learning-rate variable: numpy(), and assign(value), which sets the optimizer's rate
    (self.model.optimizer.learning_rate.assign(...) in a callback)."""

    def __new__(cls, value, optimizer=None):
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer
        return rate

    def numpy(self):
        return np.float32(self)

    def assign(self, value):
        if self._optimizer is None:
            raise ValueError("this learning rate is a copy that belongs to no optimizer; set "
                             "optimizer.learning_rate instead")
        self._optimizer.learning_rate = value
        return self._optimizer.learning_rate

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


def _non_negative(value, what):
    """A finite number >= 0 (an epsilon, a decay): a negative or NaN one would make the steps NaN."""
    value = float(value)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
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
    are accepted at their defaults only; Keras 2's `decay` is ignored with a warning, as Keras 3 does.
    """

    _default_name = "optimizer"
    _decay_fused = False

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **keras_only):
        kind = type(self).__name__
        if "lr" in keras_only:
            raise TypeError(f"{kind}: the argument 'lr' is called learning_rate in Keras 3 and fastnn; "
                            f"use {kind}(learning_rate={keras_only['lr']!r})")
        if keras_only.pop("decay", None) is not None:  # Keras 2's learning-rate decay: Keras 3 warns and ignores it
            warnings.warn(f"{kind}: argument `decay` is no longer supported and will be ignored (as in Keras 3); "
                          f"for a decaying learning rate pass a fastnn.schedules schedule as learning_rate",
                          stacklevel=3)
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
        self.weight_decay = None if weight_decay is None else _non_negative(weight_decay, f"{kind}: weight_decay")
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
        """The current learning rate (a schedule is evaluated at `iterations`), as a LearningRateValue."""
        if self._schedule is not None:
            return LearningRateValue(self._schedule(self.iterations), self)
        return LearningRateValue(self._lr, self)

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
    def build(self, flat_params, slices, sparse_rows=()):
        """Attach to the flat parameter vector and allocate the optimizer state (zeroed, or as the optimizer
        starts it).

        Args:
            flat_params: writeable 1-D C-contiguous float32 vector holding every parameter; updated in place.
            slices: list of (offset, shape) per variable, in model.get_weights() order (used by clipnorm).
            sparse_rows: indices into slices of the variables whose gradient is zero outside the rows a
                step touched (embedding tables); apply then takes those rows (see apply).
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
        self._plan_row_updates(sparse_rows, slices)
        if self.clipvalue is not None:
            self._clip = self._clip_value
        elif self.clipnorm is not None:
            self._clip = self._clip_per_variable
        elif self.global_clipnorm is not None:
            self._clip = self._clip_global
        else:
            self._clip = None

    def _plan_row_updates(self, sparse_rows, slices):
        """For variables updated by rows: their (range, row width), and one update per stretch of the
        vector between them. Only when a zero gradient leaves a parameter and its state as they are
        (see _zero_gradient_changes_nothing) and no weight decay shrinks every parameter."""
        self._row_variables, self._stretch_updates = [], []
        if not sparse_rows or self.weight_decay or not self._zero_gradient_changes_nothing():
            return
        kind = type(self).__name__
        start = 0
        for k in sorted(set(sparse_rows)):
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(slices):
                raise ValueError(f"{kind}.build: sparse_rows holds {k!r}, not an index into {len(slices)} slices")
            part, shape = self._ranges[k], tuple(slices[k][1])
            width = math.prod(shape[1:]) if len(shape) > 1 else 1
            self._row_variables.append((k, part, width))
            self._add_stretch(start, part.start)
            start = part.stop
        self._add_stretch(start, self._params.size)

    def _add_stretch(self, start, stop):
        if stop > start:
            part = slice(start, stop)
            self._stretch_updates.append(
                (part, self._make_update(self._params[part], {n: s[part] for n, s in self._state.items()})))

    def _zero_gradient_changes_nothing(self):
        """Whether a step with a zero gradient leaves a parameter and its state bit for bit as they
        are, so rows no step touched can be skipped (SGD without momentum, Adagrad); state that decays
        (momentum, moving averages) changes them."""
        return False

    @property
    def built(self):
        return self._params is not None

    def apply(self, flat_grads, touched_rows=None):
        """One optimization step with the flat gradient vector (clipping may rescale it in place).

        Args:
            flat_grads: 1-D C-contiguous float32 vector, the same length as the parameters.
            touched_rows: for the variables built as sparse_rows, in their order, the rows (sorted
                unique int64) outside which their gradient is zero, or None for any row. When the
                update leaves parameters with a zero gradient unchanged, only those rows are updated
                (the result is bitwise that of the whole update); otherwise everything is.
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
        if self._row_variables and touched_rows is not None and all(r is not None for r in touched_rows):
            self._update_rows(flat_grads, touched_rows, lr, step + 1, scale)
        else:
            if self.weight_decay and not self._decay_fused:
                _nn.decay_weights(params, lr * self.weight_decay)
            self._update(flat_grads, lr, step + 1, scale)
        self.iterations = step + 1

    def _update_rows(self, flat_grads, touched_rows, lr, step, scale):
        """The update of every variable but the row-wise ones, whose touched rows are gathered, updated
        by the same kernel and put back."""
        if len(touched_rows) != len(self._row_variables):
            raise ValueError(f"{type(self).__name__}.apply: touched_rows needs {len(self._row_variables)} entries, "
                             f"got {len(touched_rows)}")
        for part, update in self._stretch_updates:
            update(flat_grads[part], lr, step, scale)
        for (_, part, width), rows in zip(self._row_variables, touched_rows):
            if not len(rows):
                continue
            params = self._params[part].reshape(-1, width)
            state = {name: buffer[part].reshape(-1, width) for name, buffer in self._state.items()}
            picked_params = params[rows]
            picked_state = {name: rows_of[rows] for name, rows_of in state.items()}
            self._make_update(picked_params.reshape(-1), {name: a.reshape(-1) for name, a in picked_state.items()})(
                flat_grads[part].reshape(-1, width)[rows].reshape(-1), lr, step, scale)
            params[rows] = picked_params
            for name, rows_of in state.items():
                rows_of[rows] = picked_state[name]

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
