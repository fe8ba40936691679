"""Recurrent layers: SimpleRNN, LSTM and GRU, with Keras 3's arguments, defaults and weight layouts,
on the fused C kernels of fastnn.ops.recurrent.

Masks (from Embedding(mask_zero=True) or Masking) arrive in ctx.mask: a masked step carries the
states and outputs the previous output, as Keras does. Dropout draws one mask per sequence (the same
for every step) for the inputs and one for the recurrent state, in training only.
"""
import numpy as np

from .. import _config, ops
from .base import Layer, deserialize_object, register, serialize_object

__all__ = ["SimpleRNN", "LSTM", "GRU"]

_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _rate(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not 0 <= value < 1:
        raise ValueError(f"{what} must be a number in [0, 1), got {value!r}")
    return float(value)


def _activation(value, what):
    """An elementwise activation for the kernels, by Keras name (None is linear)."""
    from .. import activations

    act = activations.get(value)
    if not act.epilogue or act.alpha not in (None, activations.Activation(act.name).alpha):
        raise ValueError(f"{what} must be an elementwise activation with its default parameter, got {value!r}")
    return act


class _UnitForgetBias:
    """LSTM's bias initializer with unit_forget_bias: the forget gate's quarter starts at one."""

    def __init__(self, initializer, units):
        self.initializer, self.units = initializer, units

    def __call__(self, shape):
        u = self.units
        return np.concatenate([self.initializer((u,)), np.ones(u, np.float32), self.initializer((2 * u,))])


class _RNN(Layer):
    """What SimpleRNN, LSTM and GRU share: config, weights, masks, dropout, states, forward and backward."""

    supports_masking = True
    _cell = None  # 'simple_rnn', 'lstm' or 'gru'

    def __init__(self, units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
                 recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                 zero_output_for_mask, activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        for name, value in (("activity_regularizer", activity_regularizer), ("kernel_constraint", kernel_constraint),
                            ("recurrent_constraint", recurrent_constraint), ("bias_constraint", bias_constraint)):
            if value is not None:
                raise ValueError(f"{what}: {name} is not supported (only None), got {value!r}")
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{what}: units must be a positive int, got {units!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"{what}: seed must be a non-negative int or None, got {seed!r}")
        from .. import initializers, regularizers

        self.units = int(units)
        self.activation = _activation(activation, f"{what}: activation")
        self.recurrent_activation = _activation(recurrent_activation, f"{what}: recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = deserialize_object(initializers, kernel_initializer)
        self.recurrent_initializer = deserialize_object(initializers, recurrent_initializer)
        self.bias_initializer = deserialize_object(initializers, bias_initializer)
        self.kernel_regularizer, self.recurrent_regularizer, self.bias_regularizer = (
            None if r is None else deserialize_object(regularizers, r)
            for r in (kernel_regularizer, recurrent_regularizer, bias_regularizer))
        self.dropout = _rate(dropout, f"{what}: dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, f"{what}: recurrent_dropout")
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(self.seed)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.state_count = 2 if self._cell == "lstm" else 1
        self._reset_after = True
        self.kernel = self.recurrent_kernel = self.bias = None
        self.states = []

    # ----- weights -----------------------------------------------------------------------------------
    def _bias_shape(self):
        columns = _GATES[self._cell] * self.units
        return (2, columns) if self._cell == "gru" and self._reset_after else (columns,)

    def _bias_initializer(self):
        return self.bias_initializer

    def weight_shapes(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise self._error(f"needs inputs (batch, steps, features) with known features, got shape {input_shape}")
        columns = _GATES[self._cell] * self.units
        shapes = [(int(input_shape[-1]), columns), (self.units, columns)]
        shapes += [self._bias_shape()] if self.use_bias else []
        if self.stateful:
            if input_shape[0] is None:
                raise self._error("is stateful, so it needs a fixed batch size: give the model "
                                  "fastnn.Input(shape, batch_size=...) (or the first layer batch_size=...), as Keras")
            shapes += [(int(input_shape[0]), self.units)] * self.state_count
        return shapes

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_dim = shapes[0][0]
        self.add_weight("kernel", shapes[0], self.kernel_initializer, self.kernel_regularizer)
        self.add_weight("recurrent_kernel", shapes[1], self.recurrent_initializer, self.recurrent_regularizer)
        if self.use_bias:
            self.add_weight("bias", shapes[2], self._bias_initializer(), self.bias_regularizer)
        if self.stateful:  # the states between batches: saved with the model, never trained
            from .. import initializers

            for name in ("h_state", "c_state")[:self.state_count]:
                self.add_weight(name, shapes[-1], initializers.Zeros(), trainable=False)
        self._weights_bound()
        super().build(input_shape)

    def _weights_bound(self):
        self.kernel, self.recurrent_kernel = self._weights[0], self._weights[1]
        self.bias = self._weights[2] if self.use_bias else None
        self.states = self._weights[2 + self.use_bias:]

    def reset_states(self, states=None):
        """Zero the states of a stateful layer, or set them to `states` (a list of (batch, units) arrays)."""
        if not self.stateful:
            raise self._error("is not stateful: it keeps no states between batches")
        if states is None:
            for state in self.states:
                state.fill(0.0)
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != len(self.states) or any(np.shape(s) != t.shape for s, t in zip(states, self.states)):
            raise self._error(f"reset_states: expected {len(self.states)} arrays of shape {self.states[0].shape}")
        for state, value in zip(self.states, states):
            state[...] = value

    reset_state = reset_states

    # ----- shapes and masks --------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [out] + [(batch, self.units)] * self.state_count if self.return_state else out

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        return [out] + [None] * self.state_count if self.return_state else out

    # ----- running -----------------------------------------------------------------------------------
    def _kernel_args(self):
        """The keyword arguments of this cell's ops function beyond the arrays."""
        args = {"activation": self.activation.name, "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask, "return_sequences": self.return_sequences}
        if self._cell != "simple_rnn":
            args["recurrent_activation"] = self.recurrent_activation.name
        if self._cell == "gru":
            args["reset_after"] = self._reset_after
        return args

    def _dropout_mask(self, ctx, name, shape, rate):
        """One mask a sequence (the same for every step): 0 or 1 / (1 - rate)."""
        mask = ctx.buffer(name, shape)
        (self._rng or _config.generator()).random(dtype=np.float32, out=mask)
        keep = mask >= np.float32(rate)
        np.multiply(keep, np.float32(1.0 / (1.0 - rate)), out=mask)
        return mask

    def run(self, ctx, x, mask, out=None):
        """The layer's computation: (y, h, c) with c None but for LSTM. out, when given, is where y goes
        (any view with whole-float strides and a contiguous last axis: Bidirectional's halves)."""
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[2] != self.input_dim:
            raise self._error(f"expected input (batch, steps, {self.input_dim}), got shape {np.shape(x)}")
        batch, steps = x.shape[0], x.shape[1]
        training = ctx.training
        if self.stateful and batch != self.states[0].shape[0]:
            raise self._error(f"is stateful with batch size {self.states[0].shape[0]}; got a batch of {batch} "
                              f"(feed batches of that size, as Keras needs)")
        if training and self.dropout:
            ctx.input_dropout = self._dropout_mask(ctx, "input_dropout", (batch, self.input_dim), self.dropout)
            x = np.multiply(x, ctx.input_dropout[:, None, :], out=ctx.buffer("x_dropped", x.shape))
        recurrent_mask = None
        if training and self.recurrent_dropout:
            recurrent_mask = self._dropout_mask(ctx, "recurrent_dropout", (batch, self.units), self.recurrent_dropout)
        args = self._kernel_args()
        size = ops.rnn_workspace_size(self._cell, batch, steps, self.input_dim, self.units, training=training,
                                      reset_after=self._reset_after, activation=args["activation"],
                                      recurrent_activation=args.get("recurrent_activation", "sigmoid"),
                                      recurrent_dropout=recurrent_mask is not None)
        workspace = ctx.buffer("workspace", (size,))
        y = out if out is not None else ctx.buffer(
            "y", (batch, steps, self.units) if self.return_sequences else (batch, self.units))
        states_out = [ctx.buffer(f"state{k}", (batch, self.units)) for k in range(self.state_count)]
        initial = [None] * self.state_count
        if self.stateful:  # copies: the states are overwritten below, and the LSTM backward reads c0
            initial = [ctx.buffer(f"initial{k}", state.shape) for k, state in enumerate(self.states)]
            for copy, state in zip(initial, self.states):
                copy[...] = state
        forward = {"simple_rnn": ops.simple_rnn, "lstm": ops.lstm, "gru": ops.gru}[self._cell]
        results = forward(x, self.kernel, self.recurrent_kernel, self.bias, *initial, mask=mask,
                          recurrent_mask=recurrent_mask, training=training, workspace=workspace, out=y,
                          states_out=states_out, **args)
        for state, value in zip(self.states, states_out):
            state[...] = value
        if training:
            ctx.x, ctx.rnn_mask, ctx.workspace, ctx.initial = x, mask, workspace, initial
            ctx.recurrent_mask = recurrent_mask
        return results + (None,) * (3 - len(results))

    def forward(self, ctx, x):
        y, h, c = self.run(ctx, x, getattr(ctx, "mask", None))
        if not self.return_state:
            return y
        return [y, h, c] if self._cell == "lstm" else [y, h]

    def backprop(self, ctx, dy, dh=None, dc=None):
        """dx from the gradients of the output (laid out as forward's y; a strided view works) and of
        the final states (or None); writes the weight gradients."""
        # the kernel writes every weight gradient: a frozen weight's goes to scratch, and a second call
        # of a shared layer writes to scratch that is then added
        grads = [g if g is not None and not ctx.accumulate else ctx.buffer(f"d{name}", w.shape)
                 for g, w, name in zip(self._grads, self._weights[:2 + self.use_bias], ("kernel", "recurrent", "bias"))]
        grads += [None] * (3 - len(grads))
        x = ctx.x
        dx = ctx.buffer("dx", x.shape) if ctx.need_dx else None
        state_grads = [ctx.buffer("dh0", (x.shape[0], self.units)), ctx.buffer("dc0", (x.shape[0], self.units))]
        common = dict(mask=ctx.rnn_mask, recurrent_mask=ctx.recurrent_mask, dh=dh, use_bias=self.use_bias,
                      need_dx=ctx.need_dx)
        if self._cell == "lstm":
            ops.lstm_backward(dy, x, self.kernel, self.recurrent_kernel, ctx.workspace, c0=ctx.initial[1], dc=dc,
                              out=(dx, *grads, *state_grads), **common)
        else:
            backward = ops.gru_backward if self._cell == "gru" else ops.simple_rnn_backward
            backward(dy, x, self.kernel, self.recurrent_kernel, ctx.workspace, out=(dx, *grads, state_grads[0], None),
                     **common)
        if ctx.accumulate:
            for target, value in zip(self._grads[:3], grads):
                if target is not None:
                    target += value
        if dx is not None and self.dropout:
            dx *= ctx.input_dropout[:, None, :]
        return dx

    def backward(self, ctx, dy):
        if self.return_state:
            dy, dh, dc = (list(dy) + [None, None])[:3]
            return self.backprop(ctx, dy, dh, dc)
        return self.backprop(ctx, dy)

    # ----- config ------------------------------------------------------------------------------------
    def get_config(self):
        from .. import activations

        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation),
                      use_bias=self.use_bias, kernel_initializer=serialize_object(self.kernel_initializer),
                      recurrent_initializer=serialize_object(self.recurrent_initializer),
                      bias_initializer=serialize_object(self.bias_initializer),
                      kernel_regularizer=serialize_object(self.kernel_regularizer),
                      recurrent_regularizer=serialize_object(self.recurrent_regularizer),
                      bias_regularizer=serialize_object(self.bias_regularizer), dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout, seed=self.seed,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                      zero_output_for_mask=self.zero_output_for_mask)
        if self._cell != "simple_rnn":
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        return config


_DOC_COMMON = """
        use_bias: whether the layer has a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras's defaults glorot_uniform,
            orthogonal, zeros.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional.
        dropout: the fraction of the inputs dropped in training (one mask a sequence).
        recurrent_dropout: the fraction of the recurrent state dropped in training (one mask a sequence).
        seed: optional int for the dropout masks' own generator.
        return_sequences: output every step (batch, steps, units), else the last (batch, units).
        return_state: also output the final states: [output, h{c}] (a layer with several outputs).
        go_backwards: run over the steps from the last to the first (outputs in that order).
        stateful: carry the final states of a batch into the next (row i into row i); needs a fixed
            batch size (fastnn.Input(shape, batch_size=...)); reset_states() clears them.
        unroll: accepted for Keras configs (the fused kernel never unrolls).
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        **kwargs: name, trainable, input_shape (for the first layer of a Sequential model).

    Input shape:
        (batch, steps, features); a mask (batch, steps) from the layer before is followed.
    Output shape:
        (batch, steps, units) with return_sequences, else (batch, units); with return_state a list.
"""


@register
class SimpleRNN(_RNN):
    __doc__ = """A fully connected recurrent layer: h = activation(x W + h_prev R + b).

    Args:
        units: size of the state and the output.
        activation: Keras's default tanh.""" + _DOC_COMMON

    _cell = "simple_rnn"

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 zero_output_for_mask=False, **kwargs):
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
                         recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, **kwargs)


@register
class LSTM(_RNN):
    __doc__ = """Long short-term memory (Hochreiter and Schmidhuber, 1997), Keras's formulation and layout:
    kernel (features, 4 units), recurrent_kernel (units, 4 units), bias (4 units), gates i, f, c, o.

    Args:
        units: size of the states and the output.
        activation: of the candidate and the cell output (tanh); recurrent_activation: of the gates
            (sigmoid).
        unit_forget_bias: the forget gate's bias starts at one (Jozefowicz et al., 2015).""" + _DOC_COMMON

    _cell = "lstm"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
                         recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        return _UnitForgetBias(self.bias_initializer, self.units) if self.unit_forget_bias else self.bias_initializer

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_RNN):
    __doc__ = """Gated recurrent unit (Cho et al., 2014), Keras's formulation: h = z h_prev + (1 - z) hh,
    gates z, r, h.

    Args:
        units: size of the state and the output.
        activation: of the candidate (tanh); recurrent_activation: of the gates (sigmoid).
        reset_after: apply the reset gate after the recurrent product (Keras 3's default and PyTorch's
            formulation; bias (2, 3 units): input, then recurrent) or before it (bias (3 units)).""" + _DOC_COMMON

    _cell = "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, zero_output_for_mask=False, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
                         recurrent_dropout, seed, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, **kwargs)
        self._reset_after = bool(reset_after)

    @property
    def reset_after(self):
        return self._reset_after

    def get_config(self):
        return {**super().get_config(), "reset_after": self._reset_after}
