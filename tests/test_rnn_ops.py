"""fastnn.ops.lstm, gru and simple_rnn forward and backward against the float64 references in
tests/reference.py (masks, go_backwards, initial states, both output modes), finite differences,
thread counts, SIMD paths, batch invariance and bad input."""
import numpy as np
import pytest

import fastnn
from fastnn import _C, ops

import reference as ref

CELLS = ["lstm", "gru", "gru_reset_before", "simple_rnn"]


def make_weights(rng, cell, input_dim, units, scale=0.5):
    gates = ref.RNN_GATES[cell] * units
    kernel = rng.normal(scale=scale, size=(input_dim, gates)).astype(np.float32)
    recurrent = rng.normal(scale=scale, size=(units, gates)).astype(np.float32)
    bias = rng.normal(scale=0.2, size=(2, gates) if cell == "gru" else gates).astype(np.float32)
    return kernel, recurrent, bias


def make_mask(rng, batch, steps):
    mask = rng.random((batch, steps)) < 0.6
    mask[0, :] = False          # a row never kept: zero outputs, initial states throughout
    if batch > 1:
        mask[1, :2] = False     # leading masked steps
    return mask


def run_forward(cell, x, kernel, recurrent, bias, h0=None, c0=None, training=False, **kw):
    """(y, h, c, workspace) from fastnn.ops; c is None but for LSTM."""
    batch, steps, input_dim = x.shape
    units = recurrent.shape[0]
    name = "gru" if cell == "gru_reset_before" else cell
    reset_after = cell != "gru_reset_before"
    ws = ops.rnn_workspace(name, batch, steps, input_dim, units, training=training, reset_after=reset_after,
                           activation=kw.get("activation", "tanh"),
                           recurrent_activation=kw.get("recurrent_activation", "sigmoid"),
                           recurrent_dropout=kw.get("recurrent_mask") is not None)
    if cell == "lstm":
        y, h, c = ops.lstm(x, kernel, recurrent, bias, h0, c0, training=training, workspace=ws, **kw)
        return y, h, c, ws
    if cell == "simple_rnn":
        kw.pop("recurrent_activation", None)
        y, h = ops.simple_rnn(x, kernel, recurrent, bias, h0, training=training, workspace=ws, **kw)
    else:
        y, h = ops.gru(x, kernel, recurrent, bias, h0, reset_after=reset_after, training=training, workspace=ws,
                       **kw)
    return y, h, None, ws


def run_backward(cell, ws, dy, x, kernel, recurrent, c0=None, mask=None, dh=None, dc=None, recurrent_mask=None):
    """(dx, dkernel, drecurrent, dbias, dh0, dc0) from fastnn.ops."""
    if cell == "lstm":
        return ops.lstm_backward(dy, x, kernel, recurrent, ws, c0=c0, mask=mask, dh=dh, dc=dc,
                                 recurrent_mask=recurrent_mask)
    backward = ops.simple_rnn_backward if cell == "simple_rnn" else ops.gru_backward
    return backward(dy, x, kernel, recurrent, ws, mask=mask, dh=dh, recurrent_mask=recurrent_mask) + (None,)


def check_against_reference(rng, cell, batch, steps, input_dim, units, *, masked=False, states=False,
                            dropped=False, tol=2e-5, **kw):
    """One forward and backward of fastnn against the float64 reference; returns fastnn's arrays.
    dropped: with a recurrent dropout mask (rate 0.3)."""
    x = rng.normal(size=(batch, steps, input_dim)).astype(np.float32)
    kernel, recurrent, bias = make_weights(rng, cell, input_dim, units)
    h0 = rng.normal(size=(batch, units)).astype(np.float32) if states else None
    c0 = rng.normal(size=(batch, units)).astype(np.float32) if states and cell == "lstm" else None
    mask = make_mask(rng, batch, steps) if masked else None
    if dropped:
        kw["recurrent_mask"] = ((rng.random((batch, units)) >= 0.3) / np.float32(0.7)).astype(np.float32)
    y, h, c, ws = run_forward(cell, x, kernel, recurrent, bias, h0, c0, training=True, mask=mask, **kw)
    ry, rh, rc, info = ref.rnn_forward(cell, x, kernel, recurrent, bias, h0, c0, mask=mask, **kw)
    np.testing.assert_allclose(y, ry, rtol=tol, atol=tol)
    np.testing.assert_allclose(h, rh, rtol=tol, atol=tol)
    if cell == "lstm":
        np.testing.assert_allclose(c, rc, rtol=tol, atol=tol)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dh = rng.normal(size=(batch, units)).astype(np.float32)
    dc = rng.normal(size=(batch, units)).astype(np.float32) if cell == "lstm" else None
    got = run_backward(cell, ws, dy, x, kernel, recurrent, c0, mask, dh, dc, kw.get("recurrent_mask"))
    want = ref.rnn_backward(info, dy, dh, dc)
    for name, g, w in zip(("dx", "dkernel", "drecurrent", "dbias", "dh0", "dc0"), got, want):
        if w is None:
            assert g is None, name
            continue
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, rtol=tol * 5, atol=tol * 5 * scale, err_msg=name)
    return (y, h, c) + tuple(got)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch,steps,input_dim,units", [(1, 1, 1, 1), (3, 4, 5, 7), (2, 6, 3, 33), (13, 3, 17, 4)])
def test_forward_backward_vs_reference(cell, batch, steps, input_dim, units, rng):
    check_against_reference(rng, cell, batch, steps, input_dim, units, return_sequences=True)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("options", [
    dict(masked=True, return_sequences=True),
    dict(masked=True, return_sequences=False),
    dict(masked=True, return_sequences=True, zero_output_for_mask=True),
    dict(go_backwards=True, return_sequences=True, states=True),
    dict(go_backwards=True, masked=True, return_sequences=True, states=True),
    dict(states=True, return_sequences=False),
    dict(dropped=True, return_sequences=True, states=True),
    dict(dropped=True, masked=True, go_backwards=True, return_sequences=False, states=True),
], ids=lambda o: "-".join(k if v is True else f"{k}={v}" for k, v in o.items()))
def test_masks_go_backwards_initial_states(cell, options, rng):
    check_against_reference(rng, cell, 4, 6, 3, 5, **options)


@pytest.mark.parametrize("units", [5, 16, 37])
def test_lstm_cell_pass_on_every_simd_path(units, simd, rng):
    """The LSTM cell pass with the default activations (csrc/nn/lstm_cell.c) is built per SIMD path:
    each build against the reference, over units that fill whole vectors and leave some over."""
    check_against_reference(rng, "lstm", 3, 5, 4, units, masked=True, states=True, return_sequences=True)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("act,rec_act", [("relu", "sigmoid"), ("gelu", "silu"), (None, "softplus"),
                                         ("leaky_relu", "tanh")])
def test_other_activations(cell, act, rec_act, rng):
    """Activations whose backward reads their input make the forward keep the pre-activations."""
    check_against_reference(rng, cell, 3, 4, 2, 6, masked=True, return_sequences=True, activation=act,
                            recurrent_activation=rec_act, tol=5e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dropped", [False, True])
def test_reference_backward_matches_finite_differences(cell, dropped, rng):
    """The float64 reference backward (every op test's oracle) is itself checked numerically."""
    batch, steps, input_dim, units = 2, 3, 2, 3
    x = rng.normal(size=(batch, steps, input_dim))
    kernel, recurrent, bias = (a.astype(np.float64) for a in make_weights(rng, cell, input_dim, units))
    h0, c0 = rng.normal(size=(batch, units)), rng.normal(size=(batch, units))
    mask = np.array([[True, False, True], [False, True, True]])
    recurrent_mask = np.array([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]]) if dropped else None
    kw = dict(mask=mask, recurrent_mask=recurrent_mask, go_backwards=True, return_sequences=True)
    y, h, c, info = ref.rnn_forward(cell, x, kernel, recurrent, bias, h0, c0, **kw)
    dy, dh = rng.normal(size=y.shape), rng.normal(size=h.shape)
    dc = rng.normal(size=h.shape) if cell == "lstm" else None

    def objective(x_, kernel_, recurrent_, bias_, h0_, c0_):
        y_, h_, c_, _ = ref.rnn_forward(cell, x_, kernel_, recurrent_, bias_, h0_, c0_, **kw)
        return np.sum(y_ * dy) + np.sum(h_ * dh) + (np.sum(c_ * dc) if dc is not None else 0.0)

    params = [x, kernel, recurrent, bias, h0, c0]
    grads = ref.rnn_backward(info, dy, dh, dc)
    for which in range(6 if cell == "lstm" else 5):
        numeric = np.zeros_like(params[which])
        for i in np.ndindex(params[which].shape):
            plus = [p.copy() for p in params]
            minus = [p.copy() for p in params]
            plus[which][i] += 1e-6
            minus[which][i] -= 1e-6
            numeric[i] = (objective(*plus) - objective(*minus)) / 2e-6
        np.testing.assert_allclose(grads[which], numeric, rtol=1e-5, atol=1e-7, err_msg=f"gradient {which}")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dropped", [False, True])
@pytest.mark.parametrize("batch", [128, 7, 1], ids=["rows", "uneven-rows", "one-row-by-units"])
def test_threads_bitwise_equal_on_every_simd_path(cell, dropped, batch, simd):
    """1 and 2 threads give the same bits, forward and backward, big enough that the steps split (over
    rows, in parts of unequal size with 7; one row over units) and, with 128 rows, every GEMM splits."""
    results = []
    for threads in (1, 2):
        with fastnn.threads(threads):
            results.append(check_against_reference(np.random.default_rng(7), cell, batch, 3, 40, 256, masked=True,
                                                   states=True, dropped=dropped, return_sequences=True, tol=2e-4))
    for one, two in zip(*results):
        if one is not None:
            np.testing.assert_array_equal(one, two)


def sgemm_rows_batch_invariant():
    """Whether fnn_sgemm gives a row the same bits alone as inside a taller product."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 64)).astype(np.float32)
    b = rng.normal(size=(64, 256)).astype(np.float32)
    return np.array_equal(_C.sgemm(a[2:3].copy(), b), _C.sgemm(a, b)[2:3])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("rows", [(4, 6), (0, 8), (3, 4)], ids=["middle-pair", "first-eight", "one-row"])
def test_inference_is_batch_invariant(cell, steps, rows, simd, nthreads):
    """A sequence's outputs do not depend on the batch around it: size, position, masked neighbours."""
    if rows[1] - rows[0] == 1 and not sgemm_rows_batch_invariant():
        pytest.skip("fnn_sgemm's one-row path is not yet batch-invariant (the GEMM's own task)")
    rng = np.random.default_rng(11)
    kernel, recurrent, bias = make_weights(rng, cell, 12, 40)
    x = rng.normal(size=(9, steps, 12)).astype(np.float32)
    mask = rng.random((9, steps)) < 0.7
    y, h, _, _ = run_forward(cell, x, kernel, recurrent, bias, mask=mask, return_sequences=True)
    part = slice(*rows)
    y_part, h_part, _, _ = run_forward(cell, x[part].copy(), kernel, recurrent, bias, mask=mask[part].copy(),
                                       return_sequences=True)
    np.testing.assert_array_equal(y_part, y[part])
    np.testing.assert_array_equal(h_part, h[part])


@pytest.mark.parametrize("cell", CELLS)
def test_one_sequence_over_packed_panels_keeps_the_batch_bits(cell, simd):
    """A batch of one runs the one-row kernel over the packed recurrent kernel (200 units: seven panels,
    the last partial); each row alone, on 1 or 2 threads, gives its bits in a batch."""
    rng = np.random.default_rng(5)
    kernel, recurrent, bias = make_weights(rng, cell, 12, 200, scale=0.1)
    x = rng.normal(size=(3, 4, 12)).astype(np.float32)
    y, h, _, _ = run_forward(cell, x, kernel, recurrent, bias, return_sequences=True)
    for threads in (1, 2):
        with fastnn.threads(threads):
            for row in range(3):
                y_row, h_row, _, _ = run_forward(cell, x[row:row + 1].copy(), kernel, recurrent, bias,
                                                 return_sequences=True)
                np.testing.assert_array_equal(y_row, y[row:row + 1])
                np.testing.assert_array_equal(h_row, h[row:row + 1])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_output_into_a_reversed_strided_view(cell, rng):
    """Bidirectional's layout without copies: a backward run writes into y2[:, ::-1, units:]."""
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    kernel, recurrent, bias = make_weights(rng, cell, 4, 6)
    y, _, _, _ = run_forward(cell, x, kernel, recurrent, bias, go_backwards=True, return_sequences=True)
    y2 = np.full((3, 5, 12), 7.0, np.float32)
    fn = ops.lstm if cell == "lstm" else ops.gru
    fn(x, kernel, recurrent, bias, go_backwards=True, return_sequences=True, out=y2[:, ::-1, 6:])
    np.testing.assert_array_equal(y2[:, ::-1, 6:], y)
    assert np.all(y2[:, :, :6] == 7.0)


@pytest.mark.parametrize("cell", CELLS)
def test_nan_propagates(cell, rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    x[1, 0, 2] = np.nan
    kernel, recurrent, bias = make_weights(rng, cell, 4, 5)
    y, h, _, _ = run_forward(cell, x, kernel, recurrent, bias, return_sequences=True)
    assert np.all(np.isfinite(y[0])) and np.all(np.isnan(y[1])) and np.all(np.isnan(h[1]))


def test_guard_values_and_given_outputs(rng):
    """Given outputs are written exactly in place, nothing around them."""
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    kernel, recurrent, bias = make_weights(rng, "lstm", 5, 6)
    want = ops.lstm(x, kernel, recurrent, bias, return_sequences=True)
    buf = np.full(3 * 4 * 6 + 2 * 3 * 6 + 64, 1234.5, np.float32)
    y = buf[16:16 + 72].reshape(3, 4, 6)
    h = buf[100:118].reshape(3, 6)
    c = buf[130:148].reshape(3, 6)
    ops.lstm(x, kernel, recurrent, bias, return_sequences=True, out=y, states_out=(h, c))
    for got, w in zip((y, h, c), want):
        np.testing.assert_array_equal(got, w)
    untouched = np.ones(buf.size, bool)
    untouched[16:88] = untouched[100:118] = untouched[130:148] = False
    assert np.all(buf[untouched] == 1234.5)


def test_bad_input_is_refused(rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    kernel, recurrent, bias = make_weights(rng, "lstm", 4, 5)
    with pytest.raises(ValueError, match="kernel must have shape"):
        ops.lstm(x, kernel[:3], recurrent, bias)
    with pytest.raises(ValueError, match="bias must have shape"):
        ops.lstm(x, kernel, recurrent, bias[:4])
    with pytest.raises(ValueError, match="at least one timestep"):
        ops.lstm(x[:, :0], kernel, recurrent, bias)
    with pytest.raises(ValueError, match=r"x must be \(batch, steps, features\)"):
        ops.lstm(x[0], kernel, recurrent, bias)
    with pytest.raises(TypeError, match="real numbers"):
        ops.lstm(np.array([["a"]]), kernel, recurrent, bias)
    with pytest.raises(ValueError, match="mask must have shape"):
        ops.lstm(x, kernel, recurrent, bias, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="activation must be"):
        ops.lstm(x, kernel, recurrent, bias, activation="softmax")
    gru_weights = make_weights(rng, "gru", 4, 5)
    with pytest.raises(ValueError, match="only an LSTM has a cell state"):  # the binding's own check
        _C.rnn_forward(_C.RNN_CELLS["gru"], x, *gru_weights, None, None, None, np.zeros((2, 5), np.float32), None,
                       None, None, None, False, 7, 0.0, 6, 0.0, False, False, False)
    with pytest.raises(ValueError, match="training needs a workspace"):
        ops.lstm(x, kernel, recurrent, bias, training=True)
    small = ops.rnn_workspace("lstm", 2, 3, 4, 5, training=False)
    with pytest.raises(ValueError, match="workspace must be"):
        ops.lstm(x, kernel, recurrent, bias, training=True, workspace=small)
    y = np.empty((2, 5), np.float32)
    with pytest.raises(ValueError, match="out must not share memory with h_out"):
        ops.lstm(x, kernel, recurrent, bias, out=y, states_out=(y, None))


@pytest.mark.parametrize("sizes", [(-1, 5, 3, 4), (2, 0, 3, 4), (2, 5, -3, 4), (2, 5, 3, 0), (2**40,) * 4,
                                   (2**62, 1, 1, 1)])
def test_workspace_size_refuses_negative_and_overflowing_sizes(sizes):
    with pytest.raises(ValueError, match="rnn_workspace_size: .*batch"):
        ops.rnn_workspace_size("lstm", *sizes)


def test_workspace_floats_binding_refuses_unknown_codes():
    with pytest.raises(ValueError, match="unknown cell code 9"):
        _C.rnn_workspace_floats(9, 2, 3, 4, 5, True)
    with pytest.raises(ValueError, match="not the code of an elementwise activation"):
        _C.rnn_workspace_floats(_C.RNN_CELLS["lstm"], 2, 3, 4, 5, True, 10 ** 6)


def test_backward_needs_its_training_forward(rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    kernel, recurrent, bias = make_weights(rng, "lstm", 4, 5)
    ws = ops.rnn_workspace("lstm", 2, 3, 4, 5)
    ws[:] = 0
    with pytest.raises(ValueError, match="no training forward's record"):
        ops.lstm_backward(None, x, kernel, recurrent, ws)
    y, h, c = ops.lstm(x, kernel, recurrent, bias, training=True, workspace=ws)
    with pytest.raises(ValueError, match="x must have shape"):
        ops.lstm_backward(None, x[:1], kernel, recurrent, ws)
    ops.lstm_backward(np.ones_like(y), x, kernel, recurrent, ws)
    with pytest.raises(ValueError, match="each record serves one backward"):
        ops.lstm_backward(np.ones_like(y), x, kernel, recurrent, ws)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_backward_refuses_a_workspace_whose_record_was_overwritten(cell):
    """The workspace is the caller's array: any int of its header overwritten with a value no forward
    writes gives ValueError (or, where the value is harmless, gradients), never a crash."""
    rng = np.random.default_rng(0)
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, gates * 4)).astype(np.float32)
    recurrent = rng.standard_normal((4, gates * 4)).astype(np.float32)
    forward = getattr(ops, cell)
    backward = getattr(ops, cell + "_backward")
    bias = np.zeros((2, 12) if cell == "gru" else gates * 4, np.float32)
    for slot in range(1, 32):
        for value in (-1, 2, 7, 1000, 1 << 30):
            workspace = np.zeros(1 << 16, np.float32)
            outputs = forward(x, kernel, recurrent, bias, training=True, workspace=workspace)
            workspace[:32].view(np.int32)[slot] = value
            try:
                backward(np.ones_like(outputs[0]), x, kernel, recurrent, workspace)
            except ValueError:
                pass
