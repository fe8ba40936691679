"""Recurrent rows for compare.py: LSTM and GRU training steps and one-sequence LSTM inference against
PyTorch's nn.LSTM and nn.GRU, and one epoch of the demo's spam model against the same model in a plain
PyTorch loop.

A training step is the forward over the whole sequence, the backward from a mean-squared loss on the
last state, and a plain SGD update of the weights, on both sides; x needs no gradient on either.
"""
import numpy as np

from fastnn import ops
from fastnn.benchmark import Row

LR = 0.01


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _weights(rng, cell, input_dim, units):
    gates = (4 if cell == "lstm" else 3) * units
    kernel = rng.normal(scale=0.1, size=(input_dim, gates)).astype(np.float32)
    recurrent = rng.normal(scale=0.1, size=(units, gates)).astype(np.float32)
    bias = np.zeros((2, gates) if cell == "gru" else gates, np.float32)
    return kernel, recurrent, bias


def _fastnn_step(cell, x, target, kernel, recurrent, bias):
    batch, steps, input_dim = x.shape
    units = recurrent.shape[0]
    ws = ops.rnn_workspace(cell, batch, steps, input_dim, units)
    forward, backward = (ops.lstm, ops.lstm_backward) if cell == "lstm" else (ops.gru, ops.gru_backward)
    weights = (kernel, recurrent, bias)

    def step():
        h = forward(x, kernel, recurrent, bias, training=True, workspace=ws)[1]
        dh = (h - target) * np.float32(2.0 / h.size)
        grads = backward(None, x, kernel, recurrent, ws, dh=dh, need_dx=False)[1:4]
        for p, g in zip(weights, grads):
            ops.sgd_update(p.reshape(-1), g.reshape(-1), None, LR)
    return step


def _torch_step(torch, cell, x, target):
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(x.shape[2], target.shape[1], batch_first=True)
    opt = torch.optim.SGD(module.parameters(), lr=LR)
    x_t, target_t = torch.from_numpy(x), torch.from_numpy(target)

    def step():
        opt.zero_grad()
        _, state = module(x_t)
        h = state[0] if cell == "lstm" else state
        loss = ((h[0] - target_t) ** 2).mean()
        loss.backward()
        opt.step()
    return step


def training_row(cell, batch, steps, input_dim, units, threads):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, steps, input_dim)).astype(np.float32)
    target = rng.normal(size=(batch, units)).astype(np.float32)
    gates = (4 if cell == "lstm" else 3) * units
    # forward, the per-step backward product, and the two weight gradients (no input gradient)
    flops = 2 * batch * steps * gates * (2 * input_dim + 3 * units)
    impls = {"fastnn": _fastnn_step(cell, x, target, *_weights(rng, cell, input_dim, units))}
    torch = _torch()
    if torch is not None:
        impls["torch"] = _torch_step(torch, cell, x, target)
    name = f"{cell.upper()} train step b{batch} t{steps} in{input_dim} u{units}"
    return Row(name, impls, flops=flops, threads=threads)


def inference_row(threads, steps=50, input_dim=64, units=128):
    """One sequence through an LSTM: latency-bound, as a one-sequence predict is."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, steps, input_dim)).astype(np.float32)
    kernel, recurrent, bias = _weights(rng, "lstm", input_dim, units)
    ws = ops.rnn_workspace("lstm", 1, steps, input_dim, units, training=False)
    impls = {"fastnn": lambda: ops.lstm(x, kernel, recurrent, bias, workspace=ws)}
    torch = _torch()
    if torch is not None:
        module = torch.nn.LSTM(input_dim, units, batch_first=True)
        x_t = torch.from_numpy(x)

        def torch_inference():
            with torch.inference_mode():
                return module(x_t)
        impls["torch"] = torch_inference
    flops = 2 * steps * 4 * units * (input_dim + units)
    return Row(f"LSTM inference, one sequence t{steps} in{input_dim} u{units}", impls, flops=flops, threads=threads)


def _spam_data():
    """The demo's training messages as the integer sequences its TextVectorization makes."""
    from fastnn.__main__ import SPAM_SEQUENCE_LENGTH
    from fastnn.datasets import load_sms_spam
    from fastnn.layers import TextVectorization

    (texts, y), _ = load_sms_spam()
    vectorize = TextVectorization(max_tokens=10000, output_sequence_length=SPAM_SEQUENCE_LENGTH)
    vectorize.adapt(texts)
    return vectorize(np.array(texts)), y.astype(np.float32), vectorize.vocabulary_size()


def _torch_spam_epoch(torch, ids, y, vocabulary_size, units=32, dim=32, batch_size=32):
    """The demo's model in PyTorch (the padding at each row's end skipped by packing, as the mask does in
    fastnn), trained with Adam for one shuffled epoch per call."""
    nn = torch.nn

    class Spam(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocabulary_size, dim)
            self.lstm = nn.LSTM(dim, units, batch_first=True, bidirectional=True)
            self.dense = nn.Linear(2 * units, 1)

        def forward(self, ids, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths, batch_first=True,
                                                       enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return self.dense(torch.cat([h[0], h[1]], dim=1))[:, 0]

    model = Spam()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.BCEWithLogitsLoss()
    ids_t, y_t = torch.from_numpy(ids), torch.from_numpy(y)
    lengths = torch.from_numpy(np.maximum((ids != 0).sum(axis=1), 1))

    def epoch():
        for batch in torch.randperm(len(ids)).split(batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(ids_t[batch], lengths[batch]), y_t[batch])
            loss.backward()
            optimizer.step()
    return epoch


def spam_row(threads):
    """One epoch of the demo's spam model (Embedding mask_zero, Bidirectional LSTM 32, Dense sigmoid; Adam,
    batch 32) on the training messages as integer sequences, text layer left out on both sides."""
    import fastnn
    from fastnn.__main__ import spam_model

    ids, y, vocabulary_size = _spam_data()
    fastnn.set_seed(0)
    model = fastnn.Sequential([fastnn.Input((ids.shape[1],), dtype="int64")] + spam_model(vocabulary_size))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    impls = {"fastnn": lambda: model.fit(ids, y, epochs=1, batch_size=32, verbose=0)}
    torch = _torch()
    if torch is not None:
        impls["torch"] = _torch_spam_epoch(torch, ids, y, vocabulary_size)
    return Row(f"spam model one epoch ({len(ids)} msgs, t{ids.shape[1]})", impls, threads=threads)


def rnn_rows(threads):
    return [training_row("lstm", 32, 50, 64, 128, threads), training_row("lstm", 64, 100, 128, 256, threads),
            training_row("gru", 32, 50, 64, 128, threads), inference_row(threads), spam_row(threads)]
