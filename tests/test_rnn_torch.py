"""Whole training steps of fastnn.ops.lstm, gru and simple_rnn against PyTorch's nn.LSTM, nn.GRU and
nn.RNN with the same weights (gate order converted: Keras's GRU z, r, h is PyTorch's r, z, n, and
GRU reset_after=True is PyTorch's formulation)."""
import numpy as np
import pytest

from fastnn import ops

torch = pytest.importorskip("torch")

LR = 0.1


def keras_to_torch_gates(a, cell):
    """A Keras-ordered gate axis (last) in PyTorch's order: LSTM i, f, c, o is i, f, g, o already."""
    if cell != "gru":
        return a
    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def torch_module(cell, kernel, recurrent, bias):
    input_dim, units = kernel.shape[0], recurrent.shape[0]
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[cell](
        input_dim, units, batch_first=True)
    bias_ih, bias_hh = (bias[0], bias[1]) if cell == "gru" else (bias, np.zeros_like(bias))
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(keras_to_torch_gates(kernel, cell).T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(keras_to_torch_gates(recurrent, cell).T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(keras_to_torch_gates(bias_ih, cell).copy()))
        module.bias_hh_l0.copy_(torch.from_numpy(keras_to_torch_gates(bias_hh, cell).copy()))
    return module


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_training_step_matches_torch(cell, return_sequences):
    """Forward, backward from a loss on the output, one SGD step: the updated weights agree."""
    rng = np.random.default_rng(5)
    batch, steps, input_dim, units = 4, 7, 6, 9
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[cell] * units
    x = rng.normal(size=(batch, steps, input_dim)).astype(np.float32)
    kernel = rng.normal(scale=0.4, size=(input_dim, gates)).astype(np.float32)
    recurrent = rng.normal(scale=0.4, size=(units, gates)).astype(np.float32)
    bias = rng.normal(scale=0.1, size=(2, gates) if cell == "gru" else gates).astype(np.float32)
    h0 = rng.normal(size=(batch, units)).astype(np.float32)
    target = rng.normal(size=(batch, steps, units) if return_sequences else (batch, units)).astype(np.float32)

    module = torch_module(cell, kernel, recurrent, bias)
    x_t = torch.from_numpy(x).requires_grad_()
    init = torch.from_numpy(h0)[None]
    y_t, _ = module(x_t, (init, torch.zeros_like(init)) if cell == "lstm" else init)
    y_t = y_t if return_sequences else y_t[:, -1]
    loss = ((y_t - torch.from_numpy(target)) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in module.parameters():
            p -= LR * p.grad

    ws = ops.rnn_workspace(cell, batch, steps, input_dim, units)
    forward = {"lstm": ops.lstm, "gru": ops.gru, "simple_rnn": ops.simple_rnn}[cell]
    y = forward(x, kernel, recurrent, bias, h0, return_sequences=return_sequences, training=True, workspace=ws)[0]
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    dy = 2 * (y - target) / y.size
    backward = {"lstm": ops.lstm_backward, "gru": ops.gru_backward, "simple_rnn": ops.simple_rnn_backward}[cell]
    dx, dkernel, drecurrent, dbias, dh0 = backward(dy, x, kernel, recurrent, ws)[:5]
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-4, atol=1e-7)
    bias_ih = bias[0] if cell == "gru" else bias
    updated = {"weight_ih_l0": kernel - LR * dkernel, "weight_hh_l0": recurrent - LR * drecurrent,
               "bias_ih_l0": bias_ih - LR * (dbias[0] if cell == "gru" else dbias)}
    if cell == "gru":
        updated["bias_hh_l0"] = bias[1] - LR * dbias[1]
    for name, value in updated.items():
        want = getattr(module, name).detach().numpy()
        np.testing.assert_allclose(keras_to_torch_gates(value, cell).T if value.ndim == 2 else
                                   keras_to_torch_gates(value, cell), want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_lstm_final_states_and_their_gradients_match_torch():
    rng = np.random.default_rng(9)
    batch, steps, input_dim, units = 3, 5, 4, 6
    x = rng.normal(size=(batch, steps, input_dim)).astype(np.float32)
    kernel = rng.normal(scale=0.4, size=(input_dim, 4 * units)).astype(np.float32)
    recurrent = rng.normal(scale=0.4, size=(units, 4 * units)).astype(np.float32)
    bias = rng.normal(scale=0.1, size=4 * units).astype(np.float32)
    h0, c0 = (rng.normal(size=(batch, units)).astype(np.float32) for _ in range(2))
    dh, dc = (rng.normal(size=(batch, units)).astype(np.float32) for _ in range(2))
    module = torch_module("lstm", kernel, recurrent, bias)
    h0_t, c0_t = (torch.from_numpy(a).requires_grad_() for a in (h0, c0))
    _, (h_t, c_t) = module(torch.from_numpy(x), (h0_t[None], c0_t[None]))
    ((h_t[0] * torch.from_numpy(dh)).sum() + (c_t[0] * torch.from_numpy(dc)).sum()).backward()
    ws = ops.rnn_workspace("lstm", batch, steps, input_dim, units)
    _, h, c = ops.lstm(x, kernel, recurrent, bias, h0, c0, training=True, workspace=ws)
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, c_t[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    grads = ops.lstm_backward(None, x, kernel, recurrent, ws, c0=c0, dh=dh, dc=dc, need_dx=False)
    assert grads[0] is None
    np.testing.assert_allclose(grads[4], h0_t.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[5], c0_t.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_model_training_steps_match_torch(cell):
    """A fastnn model with one recurrent layer, compiled with SGD and MSE, two train_on_batch steps:
    the layer's weights follow PyTorch's module trained the same way (weights converted)."""
    import fastnn
    from fastnn.layers import GRU, LSTM, SimpleRNN

    rng = np.random.default_rng(11)
    batch, steps, input_dim, units = 5, 6, 4, 7
    layer = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}[cell](units, return_sequences=True)
    model = fastnn.Sequential([fastnn.Input((steps, input_dim)), layer])
    model.set_weights([rng.normal(scale=0.4, size=w.shape).astype(np.float32) for w in model.get_weights()])
    module = torch_module(cell, layer.kernel, layer.recurrent_kernel, layer.bias)
    module.bias_hh_l0.requires_grad_(cell == "gru")  # Keras's LSTM and SimpleRNN have one bias, not two
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=LR), loss="mse")
    opt = torch.optim.SGD(module.parameters(), lr=LR)
    torch_losses = []
    for _ in range(2):
        x = rng.normal(size=(batch, steps, input_dim)).astype(np.float32)
        y = rng.normal(size=(batch, steps, units)).astype(np.float32)
        loss = model.train_on_batch(x, y)
        opt.zero_grad()
        torch_loss = ((module(torch.from_numpy(x))[0] - torch.from_numpy(y)) ** 2).mean()
        torch_loss.backward()
        opt.step()
        torch_losses.append(torch_loss.item())
        np.testing.assert_allclose(loss, np.mean(torch_losses), rtol=1e-5)  # Keras: the mean since compile
    np.testing.assert_allclose(keras_to_torch_gates(layer.kernel, cell).T, module.weight_ih_l0.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras_to_torch_gates(layer.recurrent_kernel, cell).T,
                               module.weight_hh_l0.detach().numpy(), rtol=1e-5, atol=1e-6)
    bias_ih = layer.bias[0] if cell == "gru" else layer.bias
    np.testing.assert_allclose(keras_to_torch_gates(bias_ih, cell), module.bias_ih_l0.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
