"""Converters of Embedding and the recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) and of
TimeDistributed.

The recurrent layers become ONNX's own RNN, LSTM and GRU operators (not a Loop), time-major, with
the weights rearranged once at export: Keras's kernel (features, gates * units) becomes ONNX's
W (directions, gates * units, features); the LSTM gates i, f, c, o are reordered to ONNX's i, o, f,
c; GRU's gates z, r, h are ONNX's order already, and reset_after is linear_before_reset=1 with the
input and recurrent biases as ONNX's Wb and Rb.

A mask becomes sequence_lens. ONNX runs the first sequence_lens steps of each sequence, while Keras
skips masked steps wherever they are (pre-padding included), so the unmasked steps are first moved to
the front of their sequence (a permutation by ScatterElements); the outputs are then gathered back
to their time steps, and a masked step repeats the previous output as Keras does (or is zero with
zero_output_for_mask, and in Bidirectional's returned sequences).
"""
import numpy as np

from ..layers import GRU, LSTM, Bidirectional, Embedding, SimpleRNN, TimeDistributed
from .builder import Call
from .registry import converter_for, converts, samples

_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
_LSTM_ORDER = (0, 3, 1, 2)  # ONNX's i, o, f, c from Keras's i, f, c, o
_OPS = {SimpleRNN: "RNN", LSTM: "LSTM", GRU: "GRU"}


@converts(Embedding)
def embedding(call):
    """Gather rows of the table; mask_zero makes the mask id != 0."""
    layer, g = call.layer, call.g
    if layer.mask_zero:
        call.output_mask = g.op("Not", [g.op("Equal", [call.x, g.ints(0)])], call.hint("mask"))
    return g.op("Gather", [g.const(layer.embeddings, call.hint("embeddings")), call.x], call.hint(), axis=0)


@samples(Embedding)
def padded_ids(layer, shape, dtype, rng):
    """Ids below input_dim; with mask_zero, rows padded with zeros after the tokens, some before, some
    with a gap, and every fifth all padding."""
    ids = rng.integers(1 if layer.mask_zero else 0, layer.input_dim, shape, dtype=np.int64)
    if layer.mask_zero and len(shape) == 2:
        for row, length in enumerate(rng.integers(1, shape[1] + 1, shape[0])):
            length = 0 if row % 5 == 4 else length
            if row % 3 == 2:
                ids[row, :shape[1] - length] = 0
            else:
                ids[row, length:] = 0
            if row % 4 == 3 and length > 2:
                ids[row, 1] = 0  # a masked step between tokens
    return ids


def _gates(layer, matrix):
    """A Keras (rows, gates * units) matrix as ONNX's (gates * units, rows), LSTM gates reordered."""
    if isinstance(layer, LSTM):
        u = layer.units
        matrix = np.concatenate([matrix[..., k * u:(k + 1) * u] for k in _LSTM_ORDER], axis=-1)
    return np.ascontiguousarray(matrix.T)


def _direction_weights(call, layer):
    """(W, R, B, attributes) of one direction."""
    if layer.stateful:
        raise call.error(f"its layer '{layer.name}' is stateful: its states carry over between batches")
    names = [layer.activation.name] if isinstance(layer, SimpleRNN) else [layer.recurrent_activation.name,
                                                                          layer.activation.name]
    if isinstance(layer, LSTM):
        names.append(layer.activation.name)
    missing = [n for n in names if n not in _ACTIVATIONS]
    if missing:
        raise call.error(f"ONNX's recurrent operators take sigmoid, tanh and relu, not {missing[0]}")
    gates = {SimpleRNN: 1, LSTM: 4, GRU: 3}[type(layer)] * layer.units
    w, r = _gates(layer, layer.kernel), _gates(layer, layer.recurrent_kernel)
    attributes = {"activations": [_ACTIVATIONS[n] for n in names]}
    if not layer.use_bias:
        bias = np.zeros(2 * gates, np.float32)
    elif isinstance(layer, GRU) and layer.reset_after:
        bias = layer.bias.reshape(-1)
    else:
        bias = np.concatenate([_gates(layer, layer.bias), np.zeros(gates, np.float32)])
    if isinstance(layer, GRU):
        attributes["linear_before_reset"] = int(layer.reset_after)
    return w, r, bias, attributes


def _align(call):
    """(x with each sequence's unmasked steps moved to its front, sequence_lens int32, the inclusive count
    of unmasked steps c (batch, steps) int64, the mask as int64, the lengths int64) for the call's mask."""
    g, x = call.g, call.x
    m = g.cast(call.mask, "int64")
    counts = g.op("CumSum", [m, g.ints(1)], call.hint("counts"))
    lengths = g.reduce("ReduceSum", m, [1], True, call.hint("lengths"))
    step_plus_one = g.op("CumSum", [g.op("Where", [call.mask, g.ints(1), g.ints(1)]), g.ints(1)])
    gaps_before = g.op("Sub", [step_plus_one, counts])  # masked steps up to and including this one
    position = g.op("Where", [call.mask, g.op("Sub", [counts, g.ints(1)]),
                              g.op("Add", [lengths, g.op("Sub", [gaps_before, g.ints(1)])])], call.hint("position"))
    indices = g.op("Expand", [g.unsqueeze(position, [-1]), g.op("Shape", [x])])
    aligned = g.op("ScatterElements", [x, indices, x], call.hint("aligned"), axis=1)
    lens = g.cast(g.squeeze(lengths, [1]), "int32", call.hint("sequence_lens"))
    return aligned, lens, counts, m, lengths


def _gather_steps(call, y, index, keep):
    """y (batch, steps, units) read at index (batch, steps) per step where keep, else 0."""
    g = call.g
    safe = g.op("Max", [g.op("Min", [index, g.op("Sub", [g.op("Shape", [y], start=1, end=2), g.ints(1)])]),
                        g.ints(0)])
    gathered = g.op("GatherElements", [y, g.op("Expand", [g.unsqueeze(safe, [-1]), g.op("Shape", [y])])], axis=1)
    return g.op("Where", [g.unsqueeze(keep, [-1]), gathered, g.const(0.0)], call.hint("sequence"))


def _reverse_time(call, y):
    g = call.g
    return g.op("Slice", [y, g.ints(-1), g.ints(np.iinfo(np.int64).min), g.ints(1), g.ints(-1)], call.hint("reversed"))


def _pick(g, x, k, axis):
    """x's slice k along axis, without that axis (one direction of an ONNX RNN output)."""
    return g.op("Gather", [x, g.const(np.int64(k), "direction", np.int64)], axis=axis)


def _run(call, layers, direction):
    """The ONNX operator over the call's input: (Y batch-major (batch, directions, steps, units),
    [Y_h per direction], [Y_c per direction] (LSTM) or [], the alignment under a mask or None)."""
    g, first = call.g, layers[0]
    weights = [_direction_weights(call, layer) for layer in layers]
    x, lens, alignment = call.x, "", None
    if call.mask is not None:
        x, lens, *alignment = _align(call)
    op = _OPS[type(first)]
    inputs = [g.op("Transpose", [x], call.hint("time_major"), perm=[1, 0, 2]),
              g.const(np.stack([w for w, _, _, _ in weights]), call.hint("W")),
              g.const(np.stack([r for _, r, _, _ in weights]), call.hint("R")),
              g.const(np.stack([b for _, _, b, _ in weights]), call.hint("B")), lens]
    attributes = dict(weights[0][3])
    attributes["activations"] = [a for _, _, _, attrs in weights for a in attrs["activations"]]
    outputs = g.op(op, inputs, call.hint(op.lower()), outputs=3 if op == "LSTM" else 2, hidden_size=first.units,
                   direction=direction, **attributes)
    y = g.op("Transpose", [outputs[0]], call.hint("batch_major"), perm=[2, 1, 0, 3])
    directions = len(layers)
    final = [_pick(g, outputs[1], k, 0) for k in range(directions)]
    cells = [_pick(g, outputs[2], k, 0) for k in range(directions)] if op == "LSTM" else []
    return y, final, cells, alignment


def _sequence(call, y, k, layer, alignment, in_bidirectional):
    """The output sequence of direction k in fastnn's layout (batch, steps, units)."""
    g = call.g
    y = _pick(g, y, k, 1)
    backwards = layer.go_backwards
    if alignment is not None:
        counts, m, lengths = alignment
        index = g.op("Sub", [counts, m]) if backwards else g.op("Sub", [counts, g.ints(1)])
        if layer.zero_output_for_mask:
            keep = call.mask
        elif backwards:
            keep = g.op("Less", [index, lengths])
        else:
            keep = g.op("Greater", [counts, g.ints(0)])
        y = _gather_steps(call, y, index, keep)
    return _reverse_time(call, y) if backwards and not in_bidirectional else y


@converts(SimpleRNN, LSTM, GRU)
def recurrent(call):
    layer = call.layer
    y, final, cells, alignment = _run(call, [layer], "reverse" if layer.go_backwards else "forward")
    out = _sequence(call, y, 0, layer, alignment, False) if layer.return_sequences else final[0]
    if layer.return_state:
        call.output_mask = [call.mask if layer.return_sequences else None] + [None] * layer.state_count
        return [out] + final + cells
    return out


@converts(Bidirectional)
def bidirectional(call):
    """One operator with direction='bidirectional'; the backward layer's outputs in time order."""
    layer, g = call.layer, call.g
    forward, backward = layer.forward_layer, layer.backward_layer
    if type(forward) is not type(backward) or forward.units != backward.units or forward.go_backwards:
        raise call.error("ONNX's bidirectional operators need a forward and a backward layer of one kind and size")
    y, final, cells, alignment = _run(call, [forward, backward], "bidirectional")
    if layer.return_sequences:
        parts = [_sequence(call, y, k, inner, alignment, True) for k, inner in enumerate((forward, backward))]
    else:
        parts = final
    if layer.merge_mode == "concat":
        merged = [g.op("Concat", parts, call.hint(), axis=-1)]
    elif layer.merge_mode is None:
        merged = parts
    elif layer.merge_mode == "mul":
        merged = [g.op("Mul", parts, call.hint())]
    else:
        merged = [g.op("Add", parts, call.hint())]
        if layer.merge_mode == "ave":
            merged = [g.op("Mul", [merged[0], g.const(0.5)], call.hint())]
    out_mask = call.mask if layer.return_sequences else None
    if not layer.return_state:
        call.output_mask = out_mask if len(merged) == 1 else [out_mask] * 2
        return merged[0] if len(merged) == 1 else merged
    states = [final[0]] + cells[:1] + [final[1]] + cells[1:]
    call.output_mask = [out_mask] * len(merged) + [None] * len(states)
    return merged + states


@converts(TimeDistributed)
def time_distributed(call):
    """The inner layer on (batch * steps, ...) rows, reshaped back to (batch, steps, ...)."""
    g, inner = call.g, call.layer.layer
    rest, out_rest = call.shape[2:], call.output_shapes[0][2:]
    if None in rest or None in out_rest:
        raise call.error("it needs known sizes beyond the batch and step axes")
    rows = g.op("Reshape", [call.x, g.ints((-1,) + tuple(rest))], call.hint("rows"))
    inner_call = Call(g, inner, [rows], [(None,) + tuple(rest)], call.dtypes, [None], call.training,
                      [(None,) + tuple(out_rest)])
    y = converter_for(inner)(inner_call)
    if isinstance(y, list):
        raise call.error(f"its layer '{inner.name}' has several outputs")
    batch_steps = g.op("Shape", [call.x], end=2)
    shape = g.op("Concat", [batch_steps, g.ints(out_rest)], axis=0)
    return g.op("Reshape", [y, shape], call.hint())
