"""Quantized recurrent layers for int8 inference: what fastnn.optimize.quantize_dynamic puts in place of
LSTM and GRU (reset_after, Keras 3's default). SimpleRNN and GRU(reset_after=False) stay float32."""
import numpy as np

from .. import _C
from ..ops.activations import ACTIVATIONS, activation_parameter
from .base import Layer, register
from .quantized import check_int8_weights, quantize_kernel
from .recurrent import GRU, LSTM

__all__ = ["QuantizedLSTM", "QuantizedGRU"]

_CELL_CODES = {"lstm": _C.RNN_CELLS["lstm"], "gru": _C.RNN_CELLS["gru"]}


class QuantizedRecurrent:
    """The int8 forward shared by QuantizedLSTM and QuantizedGRU, on top of the float layer's config,
    shapes, masks and states.

    The input kernel and the recurrent kernel are int8 with one float32 scale per gate column. One int8
    product projects every timestep's inputs (each (row, step) quantized to uint8 over its own range);
    each step quantizes the state h of every row on the fly for the recurrent int8 product. The gates,
    the cell state and the blend stay float32, as in the float layer. A row's outputs depend on that
    row only, bitwise the same for any thread count; the SIMD paths agree to float rounding (the gates
    use each path's vector activations, as the float layer does). Inference only; dropout does not
    apply.

    Args:
        reduce_range: quantize the inputs and states to 7 bits ([0, 127]) instead of 8.
        The rest: the float layer's.

    Weights: kernel (features, G units) int8, kernel_scale (G units,), recurrent_kernel (units, G units)
    int8, recurrent_scale (G units,), bias as the float layer's, then a stateful layer's states.
    """

    def __init__(self, units, reduce_range=False, **kwargs):
        kwargs["trainable"] = False
        super().__init__(units, **kwargs)
        self.reduce_range = bool(reduce_range)
        self.kernel_scale = self.recurrent_scale = None

    def weight_shapes(self, input_shape):
        shapes = super().weight_shapes(input_shape)
        if shapes[0][0] > _C.QGEMM_MAX_K or self.units > _C.QGEMM_MAX_K:
            raise self._error(f"at most {_C.QGEMM_MAX_K} features and units, got {shapes[0][0]} and {self.units}")
        return [shapes[0], shapes[0][1:], shapes[1], shapes[1][1:]] + shapes[2:]

    def build(self, input_shape):
        shapes = self.weight_shapes(input_shape)
        self.input_dim = shapes[0][0]
        self.add_weight("kernel", shapes[0], np.zeros, trainable=False, dtype=np.int8)
        self.add_weight("kernel_scale", shapes[1], np.ones, trainable=False)
        self.add_weight("recurrent_kernel", shapes[2], np.zeros, trainable=False, dtype=np.int8)
        self.add_weight("recurrent_scale", shapes[3], np.ones, trainable=False)
        if self.use_bias:
            self.add_weight("bias", shapes[4], np.zeros, trainable=False)
        for name, shape in zip(("h_state", "c_state"), shapes[4 + self.use_bias:]):  # a stateful layer's
            self.add_weight(name, shape, np.zeros, trainable=False)
        self._weights_bound()
        Layer.build(self, input_shape)  # not the float layer's build, which makes float weights

    def _weights_bound(self):
        self.kernel, self.kernel_scale, self.recurrent_kernel, self.recurrent_scale = self._weights[:4]
        self.bias = self._weights[4] if self.use_bias else None
        self.states = self._weights[4 + self.use_bias:]
        self._weights_changed()

    def _weights_changed(self):
        """Repack both int8 kernels and refresh their column sums (the zero-point corrections)."""
        check_int8_weights(self, self.kernel, self.kernel_scale, ("kernel", "kernel_scale"))
        check_int8_weights(self, self.recurrent_kernel, self.recurrent_scale, ("recurrent_kernel", "recurrent_scale"))
        self._packed = [(_C.qgemm_pack(k), k.sum(axis=0, dtype=np.int32)) for k in (self.kernel, self.recurrent_kernel)]

    def weights_from_float(self, weights):
        """This layer's weights from the float layer's [kernel, recurrent_kernel, bias..., states...]."""
        what = f"{type(self).__name__} '{self.name}'"
        kernel, kernel_scale = quantize_kernel(weights[0], what)
        recurrent, recurrent_scale = quantize_kernel(weights[1], what)
        return [kernel, kernel_scale, recurrent, recurrent_scale] + list(weights[2:])

    def run(self, ctx, x, mask, out=None):
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[2] != self.input_dim:
            raise self._error(f"expected input (batch, steps, {self.input_dim}), got shape {np.shape(x)}")
        batch, steps = x.shape[0], x.shape[1]
        if self.stateful and batch != self.states[0].shape[0]:
            raise self._error(f"is stateful with batch size {self.states[0].shape[0]}; got a batch of {batch}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        cell = _CELL_CODES[self._cell]
        y = out if out is not None else ctx.buffer(
            "y", (batch, steps, self.units) if self.return_sequences else (batch, self.units))
        states_out = [ctx.buffer(f"state{k}", (batch, self.units)) for k in range(self.state_count)]
        initial = [None] * self.state_count
        if self.stateful:
            initial = [ctx.buffer(f"initial{k}", state.shape) for k, state in enumerate(self.states)]
            for copy, state in zip(initial, self.states):
                copy[...] = state
        what = f"{type(self).__name__} '{self.name}'"
        (act, alpha), (recurrent_act, recurrent_alpha) = [
            (ACTIVATIONS.index(a.name), activation_parameter(a.name, None, what))
            for a in (self.activation, self.recurrent_activation)]
        workspace = ctx.buffer("workspace", (_C.qrnn_workspace_floats(cell, x.shape, self.units),))
        (kernel, kernel_sums), (recurrent, recurrent_sums) = self._packed
        if mask is not None:
            mask = np.ascontiguousarray(mask, dtype=np.bool_)
        h0, c0 = (initial + [None])[:2]
        c_out = states_out[1] if self._cell == "lstm" else None
        _C.qrnn_forward(cell, x, kernel, kernel_sums, self.kernel_scale, recurrent, recurrent_sums,
                        self.recurrent_scale, self.bias, mask, h0, c0, y, states_out[0], c_out, workspace, act, alpha,
                        recurrent_act, recurrent_alpha, self.return_sequences, self.go_backwards,
                        self.zero_output_for_mask, self.reduce_range)
        for state, value in zip(self.states, states_out):
            state[...] = value
        return (y, *states_out) + (None,) * (2 - len(states_out))

    def backprop(self, ctx, dy, dh=None, dc=None):
        raise self._error("is for inference only (int8 weights have no gradient): train the float model, "
                          "then quantize it again")

    def get_config(self):
        return {**super().get_config(), "reduce_range": self.reduce_range}


@register
class QuantizedLSTM(QuantizedRecurrent, LSTM):
    __doc__ = "An LSTM with int8 kernels (Keras's gates i, f, c, o).\n\n    " + QuantizedRecurrent.__doc__


@register
class QuantizedGRU(QuantizedRecurrent, GRU):
    __doc__ = "A GRU (reset_after) with int8 kernels (Keras's gates z, r, h).\n\n    " + QuantizedRecurrent.__doc__

    def __init__(self, units, reduce_range=False, **kwargs):
        if not kwargs.get("reset_after", True):
            raise ValueError("QuantizedGRU: only reset_after=True (Keras 3's default) has an int8 forward")
        super().__init__(units, reduce_range, **kwargs)
