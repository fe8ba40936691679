"""Recurrent layers as functions: SimpleRNN, LSTM and GRU, forward and backward, on fused C kernels.

Weights have Keras's layouts: kernel (input_dim, gates * units), recurrent_kernel (units, gates * units),
gates LSTM i, f, c, o; GRU z, r, h; SimpleRNN one. x is (batch, steps, input_dim); mask, if given,
is (batch, steps) bool: a masked step carries the states and outputs the previous output (zeros
before a row's first kept step), as Keras does. recurrent_mask, if given, is (batch, units) float32:
Keras's recurrent dropout, the state times it wherever a recurrent product reads it (the carried
state and the GRU's blend keep the state itself); give the same one to the backward.

Training: make a workspace with rnn_workspace(..., training=True), run the forward with
training=True and that workspace, then the backward with the same workspace and the same x,
weights, mask (and c0). The forward records its configuration (cell, shapes, activations,
return_sequences, go_backwards) in the workspace, so the backward takes it from there; each record
serves one backward. Without training, a workspace (training=False size) only spares an allocation.

Example:
    >>> x = np.random.rand(2, 5, 3).astype(np.float32)
    >>> k, r, b = np.ones((3, 16), np.float32), np.ones((4, 16), np.float32), np.zeros(16, np.float32)
    >>> ws = fastnn.ops.rnn_workspace("lstm", 2, 5, 3, 4)
    >>> y, h, c = fastnn.ops.lstm(x, k, r, b, training=True, workspace=ws)
    >>> dx, dk, dr, db, dh0, dc0 = fastnn.ops.lstm_backward(np.ones_like(y), x, k, r, ws)
"""
import numpy as np

from .. import _C
from ._convert import as_contiguous_float32
from .activations import ACTIVATIONS, activation_parameter

__all__ = ["rnn_workspace", "rnn_workspace_size", "lstm", "lstm_backward", "gru", "gru_backward", "simple_rnn",
           "simple_rnn_backward"]

_ELEMENTWISE = {name: code for code, name in enumerate(ACTIVATIONS) if name != "softmax"}


def _activation(name, what):
    """(code, parameter) of an elementwise activation; None means linear, as in Keras."""
    name = "linear" if name is None else name
    code = _ELEMENTWISE.get(name) if type(name) is str else None
    if code is None:
        raise ValueError(f"{what}: activation must be None or one of {', '.join(_ELEMENTWISE)}, got {name!r}")
    return code, activation_parameter(name, None, what)


def _cell_code(cell, reset_after=True):
    if cell == "gru" and not reset_after:
        cell = "gru_reset_before"
    code = _C.RNN_CELLS.get(cell) if type(cell) is str else None
    if code is None:
        raise ValueError(f"rnn_workspace: cell must be 'simple_rnn', 'lstm' or 'gru', got {cell!r}")
    return code


def rnn_workspace_size(cell, batch, steps, input_dim, units, *, training=True, reset_after=True, activation="tanh",
                       recurrent_activation="sigmoid", recurrent_dropout=False):
    """The floats of rnn_workspace(...) with the same arguments (to carve it from a buffer of one's own)."""
    code = _cell_code(cell, reset_after)
    act = _activation(activation, "rnn_workspace")[0]
    rec = _activation(recurrent_activation, "rnn_workspace")[0]
    return _C.rnn_workspace_floats(code, batch, steps, input_dim, units, training, act, rec, recurrent_dropout,
                                   "rnn_workspace_size")


def rnn_workspace(cell, batch, steps, input_dim, units, *, training=True, reset_after=True, activation="tanh",
                  recurrent_activation="sigmoid", recurrent_dropout=False):
    """A float32 workspace for one recurrent forward (and, with training, its backward).

    Args:
        cell: 'simple_rnn', 'lstm' or 'gru'.
        batch, steps, input_dim, units: the sizes of the call.
        training: size it for a training forward, which keeps what the backward reads.
        reset_after: GRU only: Keras's default (True) or the reset applied before the product.
        activation, recurrent_activation: the call's activations (some keep their inputs too).
        recurrent_dropout: the call has a recurrent_mask.

    Returns:
        A 1-D float32 array to pass as workspace=; reusable for any call of these sizes.
    """
    return np.empty(rnn_workspace_size(cell, batch, steps, input_dim, units, training=training,
                                       reset_after=reset_after, activation=activation,
                                       recurrent_activation=recurrent_activation,
                                       recurrent_dropout=recurrent_dropout), np.float32)


def _f32(a, what, name):
    return None if a is None else as_contiguous_float32(a, f"{what}: {name}")


def _mask(mask, what):
    if mask is None:
        return None
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.flags.c_contiguous:
        return mask
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: mask must be an array of booleans, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr != 0)


def _forward(cell, what, x, kernel, recurrent_kernel, bias, h0, c0, return_sequences, mask, recurrent_mask,
             go_backwards, activation, recurrent_activation, zero_output_for_mask, training, workspace, out,
             states_out):
    act, alpha = _activation(activation, what)
    rec, rec_alpha = _activation(recurrent_activation, what)
    if x is None:
        raise TypeError(f"{what}: x must be an array (batch, steps, features), got None")
    x = _f32(x, what, "x")
    if x.ndim != 3:
        raise ValueError(f"{what}: x must be (batch, steps, features), got shape {x.shape}")
    h_out, c_out = (tuple(states_out) + (None, None))[:2] if states_out is not None else (None, None)
    return _C.rnn_forward(cell, x, _f32(kernel, what, "kernel"), _f32(recurrent_kernel, what, "recurrent_kernel"),
                          _f32(bias, what, "bias"), _mask(mask, what), _f32(recurrent_mask, what, "recurrent_mask"),
                          _f32(h0, what, "h0"), _f32(c0, what, "c0"),
                          out, h_out, c_out, workspace, training, act, alpha, rec, rec_alpha, return_sequences,
                          go_backwards, zero_output_for_mask)


def _gradient(dy, what):
    """dy as float32; a float32 array stays as it is (a strided view of the forward's layout works)."""
    if dy is None or (isinstance(dy, np.ndarray) and dy.dtype == np.float32 and dy.flags.aligned):
        return dy
    return _f32(dy, what, "dy")


def _backward(what, dy, x, kernel, recurrent_kernel, workspace, c0, mask, recurrent_mask, dh, dc, use_bias, need_dx,
              out):
    if not isinstance(workspace, np.ndarray):
        raise TypeError(f"{what}: workspace must be the array the training forward used")
    return _C.rnn_backward(workspace, _f32(x, what, "x"), _f32(kernel, what, "kernel"),
                           _f32(recurrent_kernel, what, "recurrent_kernel"), _mask(mask, what),
                           _f32(recurrent_mask, what, "recurrent_mask"), _f32(c0, what, "c0"),
                           _gradient(dy, what),
                           _f32(dh, what, "dh"), _f32(dc, what, "dc"), need_dx, use_bias,
                           None if out is None else tuple(out))


def lstm(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, *, return_sequences=False, mask=None,
         recurrent_mask=None, go_backwards=False, activation="tanh", recurrent_activation="sigmoid", zero_output_for_mask=False,
         training=False, workspace=None, out=None, states_out=None):
    """Keras's LSTM over a batch of sequences.

    Args:
        x: (batch, steps, input_dim).
        kernel: (input_dim, 4 * units), gates i, f, c, o.
        recurrent_kernel: (units, 4 * units).
        bias: (4 * units,) or None (use_bias=False).
        h0, c0: (batch, units) initial states, or None for zeros.
        return_sequences: output every step's h (batch, steps, units), else the last (batch, units).
        mask: (batch, steps) booleans, or None.
        recurrent_mask: (batch, units) float32 recurrent dropout mask, or None.
        go_backwards: process the steps from last to first; outputs stay in processing order.
        activation: of the candidate and the cell output (Keras's 'tanh'); recurrent_activation: of
            the gates ('sigmoid'); any elementwise activation of fastnn.ops.ACTIVATIONS, or None.
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        training: record what lstm_backward needs in workspace (then required).
        workspace: from rnn_workspace('lstm', ...).
        out: array to write the output into: (batch, units), or with return_sequences any float32 view
            of shape (batch, steps, units) whose last axis is contiguous, e.g. y2[:, ::-1, units:].
        states_out: (h, c) arrays to write the final states into.

    Returns:
        (y, h, c): the output and the final states (batch, units).
    """
    return _forward(_C.RNN_CELLS["lstm"], "lstm", x, kernel, recurrent_kernel, bias, h0, c0, return_sequences,
                    mask, recurrent_mask, go_backwards, activation, recurrent_activation, zero_output_for_mask, training, workspace,
                    out, states_out)


def lstm_backward(dy, x, kernel, recurrent_kernel, workspace, *, c0=None, mask=None, recurrent_mask=None, dh=None,
                  dc=None, use_bias=True, need_dx=True, out=None):
    """Gradients of lstm(..., training=True, workspace=workspace).

    Args:
        dy: gradient of the output (laid out as the forward's output; a strided view works), or None.
        x, kernel, recurrent_kernel, c0, mask, recurrent_mask: the forward's.
        workspace: the forward's, unchanged since; the backward consumes its record.
        dh, dc: gradients of the final states (batch, units), or None.
        use_bias: return the bias gradient (the forward had a bias).
        need_dx: compute the input gradient (skip it for a first layer).
        out: six arrays (or None entries) to write (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0) into.

    Returns:
        (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0); dx is None without need_dx, dbias without use_bias.
    """
    return _backward("lstm_backward", dy, x, kernel, recurrent_kernel, workspace, c0, mask, recurrent_mask, dh, dc,
                     use_bias, need_dx, out)


def gru(x, kernel, recurrent_kernel, bias=None, h0=None, *, reset_after=True, return_sequences=False, mask=None,
        recurrent_mask=None, go_backwards=False, activation="tanh", recurrent_activation="sigmoid", zero_output_for_mask=False,
        training=False, workspace=None, out=None, states_out=None):
    """Keras's GRU: h = z * h_prev + (1 - z) * hh.

    With reset_after (Keras's default, PyTorch's formulation) hh = act(x W_h + b_in + r * (h_prev R_h + b_rec))
    and bias is (2, 3 * units), input bias then recurrent bias; without, hh = act(x W_h + (r * h_prev) R_h + b)
    and bias is (3 * units,). Gates z, r, h; the other arguments as for lstm.

    Returns:
        (y, h): the output and the final state (batch, units).
    """
    cell = _C.RNN_CELLS["gru" if reset_after else "gru_reset_before"]
    y, h, _ = _forward(cell, "gru", x, kernel, recurrent_kernel, bias, h0, None, return_sequences, mask,
                       recurrent_mask, go_backwards, activation, recurrent_activation, zero_output_for_mask, training, workspace,
                       out, states_out)
    return y, h


def gru_backward(dy, x, kernel, recurrent_kernel, workspace, *, mask=None, recurrent_mask=None, dh=None, use_bias=True,
                 need_dx=True, out=None):
    """Gradients of gru(..., training=True, workspace=workspace), as lstm_backward.

    Returns:
        (dx, dkernel, drecurrent_kernel, dbias, dh0).
    """
    return _backward("gru_backward", dy, x, kernel, recurrent_kernel, workspace, None, mask, recurrent_mask, dh, None,
                     use_bias, need_dx, out)[:5]


def simple_rnn(x, kernel, recurrent_kernel, bias=None, h0=None, *, return_sequences=False, mask=None,
               recurrent_mask=None, go_backwards=False, activation="tanh", zero_output_for_mask=False, training=False, workspace=None,
               out=None, states_out=None):
    """Keras's SimpleRNN: h = act(x W + h_prev R + b); kernel (input_dim, units), recurrent_kernel
    (units, units), bias (units,). The other arguments as for lstm.

    Returns:
        (y, h): the output and the final state (batch, units).
    """
    y, h, _ = _forward(_C.RNN_CELLS["simple_rnn"], "simple_rnn", x, kernel, recurrent_kernel, bias, h0, None,
                       return_sequences, mask, recurrent_mask, go_backwards, activation, "sigmoid", zero_output_for_mask, training,
                       workspace, out, states_out)
    return y, h


def simple_rnn_backward(dy, x, kernel, recurrent_kernel, workspace, *, mask=None, recurrent_mask=None, dh=None,
                        use_bias=True, need_dx=True, out=None):
    """Gradients of simple_rnn(..., training=True, workspace=workspace), as lstm_backward.

    Returns:
        (dx, dkernel, drecurrent_kernel, dbias, dh0).
    """
    return _backward("simple_rnn_backward", dy, x, kernel, recurrent_kernel, workspace, None, mask, recurrent_mask,
                     dh, None, use_bias, need_dx, out)[:5]
