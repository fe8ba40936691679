"""int8 LSTM and GRU: the C forward (qrnn_forward) against a NumPy emulation built from the int8 dense
emulation and fastnn's own activations on the same SIMD path (bitwise), and quantize_dynamic on text models (accuracy against
float32, batch invariance, threads, SIMD paths, masks, states, saving)."""
import numpy as np
import pytest

import fastnn
from fastnn import _C
from fastnn.layers import GRU, LSTM, Dense, Embedding, QuantizedGRU, QuantizedLSTM, SimpleRNN
from fastnn.ops import activation_forward
from fastnn.optimize import quantize_dynamic

from test_quantize import assert_batch_invariant, predict_on_every_simd_path, qdense_np, relative_error

LSTM_CELL, GRU_CELL = _C.RNN_CELLS["lstm"], _C.RNN_CELLS["gru"]
SIGMOID, TANH = fastnn.ops.ACTIVATIONS.index("sigmoid"), fastnn.ops.ACTIVATIONS.index("tanh")


def qrnn_np(cell, x, kernel, w_scale, recurrent, r_scale, bias, mask, h0, c0, levels, go_backwards,
            zero_output_for_mask):
    """Every step's output (batch, steps, units) and the final states, as fnn_qrnn_forward computes them."""
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    lstm = cell == LSTM_CELL
    input_bias = None if bias is None else bias if lstm else bias[0]
    gx = qdense_np(x.reshape(batch * steps, -1), kernel, w_scale, input_bias, levels).reshape(batch, steps, -1)
    h = np.zeros((batch, units), np.float32) if h0 is None else h0.copy()
    c = np.zeros((batch, units), np.float32) if c0 is None else c0.copy()
    mask = np.ones((batch, steps), bool) if mask is None else mask
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    seen = np.zeros(batch, bool)
    ys = []
    for t in order:
        rec = qdense_np(h, recurrent, r_scale, None if bias is None or lstm else bias[1], levels)
        pre = gx[:, t]
        if lstm:
            pre = pre + rec
            i, f, o = (activation_forward("sigmoid", pre[:, g * units:(g + 1) * units]) for g in (0, 1, 3))
            new_c = f * c + i * activation_forward("tanh", pre[:, 2 * units:3 * units])
            new_h = o * activation_forward("tanh", new_c)
        else:
            zr = activation_forward("sigmoid", pre[:, :2 * units] + rec[:, :2 * units])
            z, r = zr[:, :units], zr[:, units:]
            hh = activation_forward("tanh", pre[:, 2 * units:] + r * rec[:, 2 * units:])
            new_h, new_c = z * h + (np.float32(1) - z) * hh, c
        keep = mask[:, t][:, None]
        h, c = np.where(keep, new_h, h), np.where(keep, new_c, c)
        seen |= mask[:, t]
        ys.append(np.where(keep | (seen[:, None] & (not zero_output_for_mask)), h, 0))
    return np.stack(ys, axis=1), h, c


@pytest.mark.parametrize("cell", [LSTM_CELL, GRU_CELL])
@pytest.mark.parametrize("batch,steps,features,units,go_backwards,masked,with_state,reduce_range", [
    (1, 1, 1, 1, False, False, False, False), (3, 7, 5, 17, False, True, False, False),
    (4, 6, 33, 16, True, True, True, True), (2, 5, 8, 65, False, False, True, False)])
def test_qrnn_forward_is_bitwise_numpy(simd, nthreads, rng, cell, batch, steps, features, units, go_backwards,
                                       masked, with_state, reduce_range):
    gu = (4 if cell == LSTM_CELL else 3) * units
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    kernel = rng.integers(-127, 128, (features, gu), dtype=np.int8)
    recurrent = rng.integers(-127, 128, (units, gu), dtype=np.int8)
    w_scale = (rng.random(gu) * 0.02 + 1e-3).astype(np.float32)
    r_scale = (rng.random(gu) * 0.02 + 1e-3).astype(np.float32)
    bias = rng.standard_normal((gu,) if cell == LSTM_CELL else (2, gu)).astype(np.float32)
    mask = rng.random((batch, steps)) < 0.7 if masked else None
    if masked:
        mask[0, :2] = False  # a row whose first steps are masked outputs zeros until its first kept step
    h0 = rng.standard_normal((batch, units)).astype(np.float32) if with_state else None
    c0 = rng.standard_normal((batch, units)).astype(np.float32) if with_state and cell == LSTM_CELL else None
    zero_output_for_mask = go_backwards  # one masked case each way
    expected, h_np, c_np = qrnn_np(cell, x, kernel, w_scale, recurrent, r_scale, bias, mask, h0, c0,
                                   127 if reduce_range else 255, go_backwards, zero_output_for_mask)
    for return_sequences in (True, False):
        y = np.full((batch, steps, units) if return_sequences else (batch, units), 7.0, np.float32)
        h_out = np.empty((batch, units), np.float32)
        c_out = np.empty((batch, units), np.float32) if cell == LSTM_CELL else None
        workspace = np.empty(_C.qrnn_workspace_floats(cell, x.shape, units), np.float32)
        _C.qrnn_forward(cell, x, _C.qgemm_pack(kernel), kernel.sum(0, dtype=np.int32), w_scale,
                        _C.qgemm_pack(recurrent), recurrent.sum(0, dtype=np.int32), r_scale, bias, mask, h0, c0, y,
                        h_out, c_out, workspace, TANH, 0.0, SIGMOID, 0.0, return_sequences, go_backwards,
                        zero_output_for_mask, reduce_range)
        np.testing.assert_array_equal(y, expected if return_sequences else expected[:, -1])
        np.testing.assert_array_equal(h_out, h_np)
        if cell == LSTM_CELL:
            np.testing.assert_array_equal(c_out, c_np)


def test_qrnn_forward_refuses_bad_input(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    kernel, recurrent = np.ones((4, 15), np.int8), np.ones((5, 15), np.int8)
    args = [GRU_CELL, x, _C.qgemm_pack(kernel), kernel.sum(0, dtype=np.int32), np.ones(15, np.float32),
            _C.qgemm_pack(recurrent), recurrent.sum(0, dtype=np.int32), np.ones(15, np.float32),
            np.zeros((2, 15), np.float32), None, None, None, np.empty((2, 5), np.float32),
            np.empty((2, 5), np.float32), None, np.empty(_C.qrnn_workspace_floats(GRU_CELL, x.shape, 5), np.float32),
            TANH, 0.0, SIGMOID, 0.0, False, False, False, False]
    _C.qrnn_forward(*args)
    for index, bad, error in [(0, _C.RNN_CELLS["simple_rnn"], ValueError), (1, x.astype(np.float64), TypeError),
                              (8, np.zeros(15, np.float32), ValueError), (12, np.empty((2, 3, 5), np.float32), ValueError),
                              (15, np.empty(10, np.float32), ValueError), (14, np.empty((2, 5), np.float32), ValueError),
                              (9, np.ones((2, 4), bool), ValueError), (12, args[1][:, 0, :1], ValueError)]:
        with pytest.raises(error):
            _C.qrnn_forward(*(args[:index] + [bad] + args[index + 1:]))


# ------------------------------------------------------------------------------ models

def text_model(cell, **kwargs):
    """Embedding (mask_zero) + two recurrent layers + a dense head, as a small text classifier."""
    fastnn.set_seed(0)
    return fastnn.Sequential([Embedding(300, 32, mask_zero=True, input_shape=(40,)),
                              cell(48, return_sequences=True, **kwargs), cell(32, **kwargs), Dense(4)])


def token_batch(rng, n):
    ids = rng.integers(1, 300, (n, 40))
    ids[::3, 25:] = 0  # padded sentences
    return ids


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_text_model_within_two_percent_of_float(rng, cell):
    model = text_model(cell)
    quantized = quantize_dynamic(model)
    assert [type(layer).__name__ for layer in quantized.layers] == ["Embedding"] + [f"Quantized{cell.__name__}"] * 2 + [
        "QuantizedDense"]
    ids = token_batch(rng, 48)
    assert relative_error(quantized.predict(ids, verbose=0), model.predict(ids, verbose=0)) < 0.02
    assert relative_error(quantize_dynamic(model, reduce_range=True).predict(ids, verbose=0),
                          model.predict(ids, verbose=0)) < 0.04


def test_layers_that_stay_float(rng):
    fastnn.set_seed(0)
    model = fastnn.Sequential([SimpleRNN(4, return_sequences=True, input_shape=(5, 3)), GRU(4, reset_after=False)])
    quantized = quantize_dynamic(model)
    assert [type(layer).__name__ for layer in quantized.layers] == ["SimpleRNN", "GRU"]
    with pytest.raises(ValueError, match="reset_after"):
        QuantizedGRU(3, reset_after=False)


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_sequence_alone_equals_sequence_in_batch(simd, rng, cell):
    assert_batch_invariant(quantize_dynamic(text_model(cell, go_backwards=True)), token_batch(rng, 12), (0, 3, 11))


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_simd_paths_agree_to_rounding(rng, cell):
    """The cells use each path's vector activations (as the float layers do): the paths agree to float
    rounding, carried through the steps' quantization of the state."""
    outputs = predict_on_every_simd_path(quantize_dynamic(text_model(cell)), token_batch(rng, 6))
    for y in outputs[1:]:
        assert relative_error(y, outputs[0]) < 1e-3


def test_return_state_stateful_save_and_load(tmp_path, rng):
    fastnn.set_seed(0)
    inputs = fastnn.Input(shape=(6, 3), batch_size=2)
    y, h, c = LSTM(5, return_sequences=True, return_state=True, stateful=True)(inputs)
    model = fastnn.Model(inputs, [y, h, c, GRU(4)(y)])
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    quantized = quantize_dynamic(model)
    layer = quantized.layers[1]
    assert isinstance(layer, QuantizedLSTM) and layer.stateful and not layer.trainable_weights
    first = quantized.predict(x, verbose=0)
    second = quantized.predict(x, verbose=0)  # the states carried over change the outputs
    assert not np.array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], first[0][:, -1])  # the last output is h
    assert relative_error(first[3], model.predict(x, verbose=0)[3]) < 0.02
    quantized.save(tmp_path / "int8_rnn.fnn")
    loaded = fastnn.load_model(tmp_path / "int8_rnn.fnn")
    for a, b in zip(loaded.get_weights(), quantized.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.layers[1].reset_states()
    quantized.layers[1].reset_states()
    for a, b in zip(loaded.predict(x, verbose=0), quantized.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    config = layer.get_config()
    assert config["reduce_range"] is False and QuantizedLSTM.from_config(config).get_config() == config


def test_quantized_recurrent_is_inference_only(rng):
    quantized = quantize_dynamic(text_model(GRU))
    quantized.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="inference only"):
        quantized.fit(token_batch(rng, 4), np.ones((4, 4), np.float32), epochs=1, verbose=0)
