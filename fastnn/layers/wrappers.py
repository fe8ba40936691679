"""Layers that wrap others: Bidirectional (a recurrent layer both ways) and TimeDistributed (a layer on
every step of a sequence).

A wrapper is what a model sees (a leaf layer): its weights are its inner layers' weights, in their
order, and a model's packing binds them through the wrapper. Each call of the wrapper gives each inner
layer a context of its own, kept in the wrapper's context.
"""
import numpy as np

from ..engine.context import CallContext
from .base import Layer, get_layer_class, register
from .recurrent import _RNN

__all__ = ["Bidirectional", "TimeDistributed"]


def _layer_from(value, what):
    """A layer instance, or one rebuilt from {'class_name', 'config'} (a saved config)."""
    if isinstance(value, Layer):
        return value
    if isinstance(value, dict) and isinstance(value.get("class_name"), str) and isinstance(value.get("config"), dict):
        return get_layer_class(value["class_name"]).from_config(value["config"])
    raise TypeError(f"{what} must be a fastnn layer, got {type(value).__name__}")


def _entry(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


class _Wrapper(Layer):
    """Weights, gradients and trainability delegated to the inner layers."""

    def _adopt(self, layers):
        self._inner = list(layers)
        self._sync()

    def _sync(self):
        """The wrapper's weight lists as the inner layers' (the same arrays), and where each comes from."""
        self._owners = [(layer, j) for layer in self._inner for j in range(len(layer._weights))]
        self._weights = [layer._weights[j] for layer, j in self._owners]
        self._grads = [layer._grads[j] for layer, j in self._owners]
        self._weight_names = [f"{layer.name}/{layer._weight_names[j]}" for layer, j in self._owners]
        self._weight_trainable = [layer._weight_trainable[j] for layer, j in self._owners]
        self._regularizers = [layer._regularizers[j] for layer, j in self._owners]
        self._sparse_rows = [layer._sparse_rows[j] for layer, j in self._owners]

    def _bind_weights(self, weights, grads):
        start = 0
        for layer in self._inner:
            count = len(layer._weights)
            layer._bind_weights(weights[start:start + count], grads[start:start + count])
            start += count
        self._sync()

    def weight_is_trainable(self, i):
        layer, j = self._owners[i]
        return self._trainable and layer.weight_is_trainable(j)

    def touched_rows(self, i):
        layer, j = self._owners[i]
        return layer.touched_rows(j)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in getattr(self, "_inner", []):
            layer.trainable = value

    def _context(self, ctx, k, layer):
        """Inner layer k's context within this call's (made on the call's first run)."""
        contexts = ctx.__dict__.setdefault("inner_contexts", {})
        inner = contexts.get(k)
        if inner is None:
            inner = contexts[k] = CallContext(ctx.training, layer.activation if layer.fuses_activation else None,
                                              ctx.accumulate, ctx.need_dx)
        return inner


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register
class Bidirectional(_Wrapper):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and merges the two.

    The backward layer's outputs are put back in input time order (as Keras flips them) by writing
    them through a reversed view: neither the input nor the output is ever copied reversed.

    Args:
        layer: a SimpleRNN, LSTM or GRU; the forward layer is a copy of it named 'forward_<name>'.
        merge_mode: 'concat' (default), 'sum', 'mul', 'ave', or None for a list [forward, backward].
        weights: optional initial weights, the forward layer's then the backward layer's.
        backward_layer: optional recurrent layer for the backward direction (go_backwards must
            differ from layer's; stateful, return_sequences and return_state must agree); by default
            a copy of layer with go_backwards=True named 'backward_<name>'.
        **kwargs: name, trainable.

    With return_sequences both layers output zeros at masked steps (Keras sets zero_output_for_mask).
    With return_state the outputs are [merged, forward states..., backward states...].

    Example:
        >>> Bidirectional(LSTM(32))   # (batch, steps, features) -> (batch, 64)
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        layer = _layer_from(layer, f"Bidirectional '{self.name}': layer")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional '{self.name}': merge_mode must be one of 'concat', 'sum', 'mul', 'ave' "
                             f"or None, got {merge_mode!r}")
        self.merge_mode = merge_mode
        forward = self._copy(layer, "forward_", {})
        if backward_layer is None:
            backward = self._copy(layer, "backward_", {"go_backwards": not layer.go_backwards})
        else:
            backward = _layer_from(backward_layer, f"Bidirectional '{self.name}': backward_layer")
        if not isinstance(backward, _RNN):
            raise TypeError(f"Bidirectional '{self.name}': backward_layer must be a SimpleRNN, LSTM or GRU")
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"Bidirectional '{self.name}': the forward and backward layers must differ in "
                             f"go_backwards, both have {forward.go_backwards}")
        for name in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, name) != getattr(backward, name):
                raise ValueError(f"Bidirectional '{self.name}': the forward and backward layers must agree on "
                                 f"{name}, got {getattr(forward, name)} and {getattr(backward, name)}")
        for inner in (forward, backward):  # Keras: masked steps of returned sequences are zeros
            inner.zero_output_for_mask = inner.return_sequences
        self.forward_layer, self.backward_layer = forward, backward
        self.return_sequences, self.return_state = forward.return_sequences, forward.return_state
        self.stateful = forward.stateful
        self._initial_weights = weights
        self._adopt([forward, backward])

    def _copy(self, layer, prefix, changes):
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional '{self.name}': layer must be a SimpleRNN, LSTM or GRU, got "
                            f"{type(layer).__name__}")
        name = layer.name[len(prefix):] if layer.name.startswith(prefix) else layer.name
        return type(layer).from_config({**layer.get_config(), **changes, "name": prefix + name})

    def weight_shapes(self, input_shape):
        return self.forward_layer.weight_shapes(input_shape) + self.backward_layer.weight_shapes(input_shape)

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self._sync()
        super().build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def reset_states(self, states=None):
        """Zero both layers' states (stateful), or set them: the forward layer's, then the backward's."""
        half = None if states is None else len(states) // 2
        self.forward_layer.reset_states(None if states is None else states[:half])
        self.backward_layer.reset_states(None if states is None else states[half:])

    reset_state = reset_states

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            (forward, *forward_states), (backward, *backward_states) = forward, backward
            states = forward_states + backward_states
        if self.merge_mode is None:
            return [forward, backward] + states
        merged = forward[:-1] + (forward[-1] + backward[-1],) if self.merge_mode == "concat" else forward
        return [merged] + states if states else merged

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        outputs = [out, out] if self.merge_mode is None else [out]
        states = [None] * (self.forward_layer.state_count + self.backward_layer.state_count) if self.return_state \
            else []
        return outputs + states if len(outputs) + len(states) > 1 else outputs[0]

    def _reversed(self, array):
        """The backward layer's view of an array in input time order (its sequences run reversed)."""
        return array[:, ::-1] if self.return_sequences else array

    def forward(self, ctx, x):
        mask = getattr(ctx, "mask", None)
        fwd, bwd = self.forward_layer, self.backward_layer
        steps = (x.shape[1],) if self.return_sequences else ()
        if self.merge_mode == "concat":
            y = ctx.buffer("y", (x.shape[0],) + steps + (fwd.units + bwd.units,))
            y_f, y_b = y[..., :fwd.units], y[..., fwd.units:]
        else:
            y_f = ctx.buffer("y_forward", (x.shape[0],) + steps + (fwd.units,))
            y_b = ctx.buffer("y_backward", (x.shape[0],) + steps + (bwd.units,))
        _, *forward_states = fwd.run(self._context(ctx, 0, fwd), x, mask, out=y_f)
        _, *backward_states = bwd.run(self._context(ctx, 1, bwd), x, mask, out=self._reversed(y_b))
        if self.merge_mode == "concat":
            merged = [y]
        elif self.merge_mode is None:
            merged = [y_f, y_b]
        else:
            y = ctx.buffer("y", y_f.shape)
            if self.merge_mode == "mul":
                np.multiply(y_f, y_b, out=y)
            else:
                np.add(y_f, y_b, out=y)
                if self.merge_mode == "ave":
                    y *= np.float32(0.5)
            merged = [y]
        if ctx.training:
            ctx.y_f, ctx.y_b = y_f, y_b
        if not self.return_state:
            return merged[0] if len(merged) == 1 else merged
        return merged + forward_states[:fwd.state_count] + backward_states[:bwd.state_count]

    def backward(self, ctx, dy):
        fwd, bwd = self.forward_layer, self.backward_layer
        grads = list(dy) if isinstance(dy, list) else [dy]
        outputs = 2 if self.merge_mode is None else 1
        merged, states = grads[:outputs], grads[outputs:]
        dh_f, dc_f = (states[:fwd.state_count] + [None, None])[:2]
        dh_b, dc_b = (states[fwd.state_count:] + [None, None])[:2]
        if self.merge_mode is None:
            dy_f, dy_b = merged
        elif merged[0] is None:
            dy_f = dy_b = None
        elif self.merge_mode == "concat":
            dy_f, dy_b = merged[0][..., :fwd.units], merged[0][..., fwd.units:]
        elif self.merge_mode == "mul":
            dy_f = np.multiply(merged[0], ctx.y_b, out=ctx.buffer("dy_forward", ctx.y_f.shape))
            dy_b = np.multiply(merged[0], ctx.y_f, out=ctx.buffer("dy_backward", ctx.y_b.shape))
        elif self.merge_mode == "ave":
            dy_f = dy_b = np.multiply(merged[0], np.float32(0.5), out=ctx.buffer("dy_half", merged[0].shape))
        else:
            dy_f = dy_b = merged[0]
        dx_f = fwd.backprop(self._context(ctx, 0, fwd), dy_f, dh_f, dc_f)
        dx_b = bwd.backprop(self._context(ctx, 1, bwd), None if dy_b is None else self._reversed(dy_b), dh_b, dc_b)
        if dx_f is None:
            return None
        return np.add(dx_f, dx_b, out=ctx.buffer("dx", dx_f.shape))

    def get_config(self):
        config = super().get_config()
        config.update(layer=_entry(self.forward_layer), merge_mode=self.merge_mode,
                      backward_layer=_entry(self.backward_layer))
        return config


@register
class TimeDistributed(_Wrapper):
    """Applies a layer to every step of a sequence: (batch, steps, ...) runs as (batch * steps, ...).

    Args:
        layer: the layer applied at each step (its weights are shared by all steps).
        **kwargs: name, trainable.

    Example:
        >>> TimeDistributed(Dense(8))   # (batch, steps, features) -> (batch, steps, 8)
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = _layer_from(layer, f"TimeDistributed '{self.name}': layer")
        self.input_dtype = self.layer.input_dtype
        self._adopt([self.layer])

    def _step_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise self._error(f"needs inputs of rank >= 3 (batch, steps, ...), got shape {input_shape}")
        return (None,) + input_shape[2:]

    def weight_shapes(self, input_shape):
        return self.layer.weight_shapes(self._step_shape(input_shape))

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._step_shape(input_shape))
        self._sync()
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        step = self.layer.compute_output_shape(self._step_shape(input_shape))
        return tuple(input_shape[:2]) + tuple(step[1:])

    def forward(self, ctx, x):
        rows = np.ascontiguousarray(x).reshape((x.shape[0] * x.shape[1],) + x.shape[2:])
        y = self.layer.forward(self._context(ctx, 0, self.layer), rows)
        ctx.input_shape = x.shape
        return y.reshape(x.shape[:2] + y.shape[1:])

    def backward(self, ctx, dy):
        rows = np.ascontiguousarray(dy).reshape((dy.shape[0] * dy.shape[1],) + dy.shape[2:])
        dx = self.layer.backward(self._context(ctx, 0, self.layer), rows)
        return None if dx is None else dx.reshape(ctx.input_shape)

    def get_config(self):
        config = super().get_config()
        config["layer"] = _entry(self.layer)
        return config
