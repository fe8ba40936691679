"""Whole-model rows for compare.py: the Keras example, one-row predict (also with a Normalization layer in
front), an MLP epoch, a functional residual MLP epoch, memory over many batch sizes, import time.

The PyTorch side is the plain loop a PyTorch user would write for the same model and data.
"""
import subprocess
import sys

import numpy as np

import fastnn
from fastnn.benchmark import Row


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _fastnn_model(sizes, activations, loss, optimizer="adam"):
    from fastnn.layers import Dense
    from fastnn.models import Sequential

    model = Sequential()
    model.add(Dense(sizes[1], activation=activations[0], input_dim=sizes[0]))
    for units, act in zip(sizes[2:], activations[1:]):
        model.add(Dense(units, activation=act))
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _torch_loop(torch, net, loss_fn, x, y, epochs, batch_size):
    """A plain PyTorch training loop: randperm batches, Adam, one step per batch."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = x.shape[0]

    def run():
        for _ in range(epochs):
            perm = torch.randperm(n)
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                opt.zero_grad()
                loss = loss_fn(net(x[idx]), y[idx])
                loss.backward()
                opt.step()
    return run


def keras_example_rows(threads):
    rng = np.random.default_rng(0)
    x = rng.random((1000, 8)).astype(np.float32)
    y = rng.integers(0, 2, size=(1000, 1)).astype(np.float32)
    # seeded initial weights on both sides: the row repeats fit on one model, and how many units die
    # (leaving Adam's moments to decay into slow denormal floats) depends on where training started
    fastnn.set_seed(0)
    model = _fastnn_model([8, 10, 8, 1], ["relu", "relu", "sigmoid"], "binary_crossentropy")
    impls = {"fastnn": lambda: model.fit(x, y, epochs=10, batch_size=32, verbose=0)}
    one_row = x[:1].copy()
    predict = {"fastnn": lambda: model.predict(one_row, verbose=0)}
    torch = _torch()
    if torch is not None:
        nn = torch.nn
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
        impls["torch"] = _torch_loop(torch, net, nn.BCELoss(), torch.from_numpy(x), torch.from_numpy(y), 10, 32)
        t_row = torch.from_numpy(one_row)

        def torch_predict():
            with torch.no_grad():
                return net(t_row).numpy()
        predict["torch"] = torch_predict
    return [Row("Keras example fit (1000x8, 10 ep, batch 32)", impls, threads=threads),
            Row("Keras example predict, one row", predict, threads=threads)]


def preprocessing_row(threads):
    """One-row predict of a small MLP with an adapted Normalization layer in front, against the same MLP
    without it: the difference of the medians is what the preprocessing layer costs."""
    from fastnn.layers import Dense, Input, Normalization
    from fastnn.models import Sequential

    rng = np.random.default_rng(3)
    x = rng.standard_normal((1000, 16)).astype(np.float32) * 5 + 2
    norm = Normalization()
    norm.adapt(x)
    with_norm = Sequential([Input((16,)), norm, Dense(32, activation="relu"), Dense(1, activation="sigmoid")])
    plain = Sequential([Input((16,)), Dense(32, activation="relu"), Dense(1, activation="sigmoid")])
    plain.set_weights(with_norm.get_weights()[3:])
    one_row = x[:1].copy()
    return Row("predict one row, Normalization in front", {
        "fastnn": lambda: with_norm.predict(one_row, verbose=0),
        "without layer": lambda: plain.predict(one_row, verbose=0)}, threads=threads)


def mlp_row(threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10000, 784)).astype(np.float32)
    labels = rng.integers(0, 10, size=10000)
    model = _fastnn_model([784, 256, 128, 10], ["relu", "relu", "softmax"], "sparse_categorical_crossentropy")
    impls = {"fastnn": lambda: model.fit(x, labels, epochs=1, batch_size=128, verbose=0)}
    flops = 3 * 2 * 10000 * (784 * 256 + 256 * 128 + 128 * 10)
    torch = _torch()
    if torch is not None:
        nn = torch.nn
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        impls["torch"] = _torch_loop(torch, net, nn.CrossEntropyLoss(), torch.from_numpy(x),
                                     torch.from_numpy(labels), 1, 128)
    return Row("MLP 784-256-128-10 epoch (10k rows, batch 128)", impls, flops=flops, threads=threads)


def mlp_predict_row(threads):
    """predict of 1024 rows at Keras's default batch_size (32) against torch's inference_mode forward of
    the whole array: fastnn chooses its own chunks, the batch size only caps memory."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1024, 784)).astype(np.float32)
    model = _fastnn_model([784, 256, 128, 10], ["relu", "relu", "softmax"], "sparse_categorical_crossentropy")
    impls = {"fastnn": lambda: model.predict(x, verbose=0)}
    flops = 2 * 1024 * (784 * 256 + 256 * 128 + 128 * 10)
    torch = _torch()
    if torch is not None:
        nn = torch.nn
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10),
                            nn.Softmax(dim=1))
        tx = torch.from_numpy(x)

        def torch_predict():
            with torch.inference_mode():
                return net(tx)
        impls["torch"] = torch_predict
    return Row("MLP 784-256-128-10 predict, 1024 rows", impls, flops=flops, threads=threads)


def residual_mlp_row(threads):
    """A functional residual MLP: two Dense branches of one input, Add, a softmax head; one epoch."""
    from fastnn.layers import Add, Dense, Input
    from fastnn.models import Model

    rng = np.random.default_rng(2)
    x = rng.standard_normal((10000, 64)).astype(np.float32)
    labels = rng.integers(0, 10, size=10000)
    inputs = Input((64,))
    merged = Add()([Dense(256, activation="relu")(inputs), Dense(256, activation="relu")(inputs)])
    model = Model(inputs, Dense(10, activation="softmax")(merged))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    impls = {"fastnn": lambda: model.fit(x, labels, epochs=1, batch_size=128, verbose=0)}
    torch = _torch()
    if torch is not None:
        nn = torch.nn

        class Residual(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b, self.head = nn.Linear(64, 256), nn.Linear(64, 256), nn.Linear(256, 10)

            def forward(self, v):
                return self.head(torch.relu(self.a(v)) + torch.relu(self.b(v)))

        impls["torch"] = _torch_loop(torch, Residual(), nn.CrossEntropyLoss(), torch.from_numpy(x),
                                     torch.from_numpy(labels), 1, 128)
    flops = 3 * 2 * 10000 * (2 * 64 * 256 + 256 * 10)
    return Row("residual MLP (2 branches, Add) epoch, 10k rows", impls, flops=flops, threads=threads)


_MEMORY_PROBE = """
import numpy as np, fastnn
from fastnn.layers import Dense, Input
from fastnn.models import Sequential
model = Sequential([Input((784,)), Dense(1024, activation="relu"), Dense(1024, activation="relu"), Dense(10)])
x = np.random.default_rng(0).standard_normal((300, 784)).astype(np.float32)
sizes = {sizes}
for n in sizes:
    model.predict_on_batch(x[:n])
with open("/proc/self/status") as f:
    print(next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM")))
"""


def memory_row():
    """Peak resident memory after predicting 300 distinct batch sizes (1..300, shuffled), against
    predicting the largest batch alone, each in a fresh interpreter (bytes in place of seconds)."""
    row = Row("peak memory: 300 batch sizes vs the largest alone", {"fastnn": None, "largest batch": None},
              unit="B")
    order = [int(n) for n in np.random.default_rng(0).permutation(np.arange(1, 301))]
    for name, sizes in (("fastnn", order), ("largest batch", [300])):
        code = _MEMORY_PROBE.format(sizes=sizes)
        row.medians[name] = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                 check=True).stdout)
    return row


def _import_time(module):
    """Seconds for `import module` in a fresh interpreter, measured inside it."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return lambda: float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                        check=True).stdout)


def import_row(samples=7):
    """`import fastnn` next to `import numpy` (which fastnn imports), in fresh interpreters."""
    row = Row("import (fresh interpreter, in-process time)", {"fastnn": None, "numpy": None})
    for name in row.impls:
        times = sorted(_import_time(name)() for _ in range(samples))
        row.medians[name] = times[len(times) // 2]
    return row


def model_rows(threads):
    return keras_example_rows(threads) + [preprocessing_row(threads), mlp_row(threads), mlp_predict_row(threads),
                                          residual_mlp_row(threads)]
