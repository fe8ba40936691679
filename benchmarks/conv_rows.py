"""Convolutional-network rows for compare.py (--only conv): convolutions, max pooling and batch
normalization, fastnn (NHWC, on preallocated outputs and scratch, as a layer runs them) beside
PyTorch (NCHW, its native layout, autograd as a PyTorch user runs it); a training epoch of the demo's
digits CNN beside the same network in a plain PyTorch loop; and the extra memory a convolution's
forward and backward take, each side measured in a fresh process.

Run alone (`python benchmarks/conv_rows.py [batch size channels filters]`), it takes one conv row apart
into its passes (forward, data gradient, filter and bias gradients) beside PyTorch's, at 1 and 2
threads, each as a share of the measured FMA peak: where a row's time goes.
"""
import json
import os
import subprocess
import sys

import numpy as np

import fastnn
from fastnn.benchmark import Row
from model_rows import _torch_loop

ops = fastnn.ops
CONV_SHAPES = [(32, 28, 1, 32), (32, 14, 32, 64), (16, 56, 64, 64)]  # (batch, size, channels, filters)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _fastnn_conv_passes(n, size, c, f, rng):
    """A 3x3 'same' convolution's passes, each a callable on buffers made once: forward, the whole
    backward (dx, dw, db) in one call, the data gradient alone, the filter and bias gradients alone."""
    x = rng.standard_normal((n, size, size, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c, f)) / np.sqrt(9 * c)).astype(np.float32)
    b = np.zeros(f, np.float32)
    y, dy = np.empty((n, size, size, f), np.float32), rng.standard_normal((n, size, size, f)).astype(np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    scratch = np.empty(ops.conv2d_scratch_size(x.shape, w.shape, padding="same", threads=2,
                                               passes=("forward", "backward_data", "backward_filter")), np.float32)

    def backward(grads):
        return lambda: ops.conv2d_backward(x, w, dy, padding="same", out=grads, scratch=scratch)
    return (lambda: ops.conv2d(x, w, b, padding="same", out=y, scratch=scratch), backward((dx, dw, db)),
            backward((dx, None, None)), backward((None, dw, db)))


def _fastnn_conv_step(n, size, c, f, rng):
    """A 3x3 'same' convolution's forward and backward (dx, dw, db) on buffers made once."""
    forward, backward = _fastnn_conv_passes(n, size, c, f, rng)[:2]

    def step():
        forward()
        backward()
    return step


def _torch_conv_step(torch, n, size, c, f):
    conv = torch.nn.Conv2d(c, f, 3, padding=1)
    x = torch.randn(n, c, size, size, requires_grad=True)
    dy = torch.randn(n, f, size, size)

    def step():
        x.grad = None
        conv.zero_grad(set_to_none=True)
        conv(x).backward(dy)
    return step


def conv_rows(threads):
    rng = np.random.default_rng(0)
    torch = _torch()
    rows = []
    for n, size, c, f in CONV_SHAPES:
        impls = {"fastnn": _fastnn_conv_step(n, size, c, f, rng)}
        if torch is not None:
            impls["torch"] = _torch_conv_step(torch, n, size, c, f)
        rows.append(Row(f"conv 3x3 same fwd+bwd N{n} {size}x{size} {c}->{f}", impls,
                        flops=3 * 2 * n * size * size * 9 * c * f, threads=threads))
    x = rng.standard_normal((1, 56, 56, 64)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 64, 64)) / 24).astype(np.float32)
    b, y = np.zeros(64, np.float32), np.empty((1, 56, 56, 64), np.float32)
    scratch = np.empty(ops.conv2d_scratch_size(x.shape, w.shape, padding="same"), np.float32)
    impls = {"fastnn": lambda: ops.conv2d(x, w, b, padding="same", out=y, scratch=scratch)}
    if torch is not None:
        conv, xt = torch.nn.Conv2d(64, 64, 3, padding=1), torch.randn(1, 64, 56, 56)

        def torch_forward():
            with torch.no_grad():
                return conv(xt)
        impls["torch"] = torch_forward
    rows.append(Row("conv 3x3 same forward, one image 56x56 64->64", impls, flops=2 * 56 * 56 * 9 * 64 * 64,
                    threads=threads))
    return rows + [_max_pool_row(threads, rng, torch), _batch_norm_row(threads, rng, torch),
                   _digits_cnn_row(threads, torch)]


def _torch_conv_passes(torch, n, size, c, f):
    """The same three passes in PyTorch: the forward without autograd, and aten's convolution
    backward asked for the input gradient alone, then for the weight and bias gradients."""
    x, w, dy = torch.randn(n, c, size, size), torch.randn(f, c, 3, 3), torch.randn(n, f, size, size)
    b = torch.zeros(f)

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(x, w, b, padding=1)

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, [f], [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                                           mask)
    return forward, backward([True, False, False]), backward([False, True, True])


def conv_pass_rows(threads, shape=(32, 14, 32, 64), peak=None):
    """The row 'conv 3x3 same fwd+bwd' of `shape` (batch, size, channels, filters) taken apart: forward,
    data gradient, filter and bias gradients, each beside PyTorch's same pass."""
    n, size, c, f = shape
    torch = _torch()
    forward, _, backward_data, backward_filter = _fastnn_conv_passes(n, size, c, f, np.random.default_rng(0))
    mine = (forward, backward_data, backward_filter)
    peers = _torch_conv_passes(torch, n, size, c, f) if torch is not None else (None,) * 3
    rows = []
    for name, fastnn_pass, torch_pass in zip(("forward", "data gradient", "filter+bias gradient"), mine, peers):
        impls = {"fastnn": fastnn_pass}
        if torch_pass is not None:
            impls["torch"] = torch_pass
        rows.append(Row(f"conv 3x3 {name} N{n} {size}x{size} {c}->{f}", impls, flops=2 * n * size * size * 9 * c * f,
                        threads=threads, peak=peak))
    return rows


def _max_pool_row(threads, rng, torch):
    x = rng.standard_normal((32, 28, 28, 32)).astype(np.float32)
    y, dy, dx = np.empty((32, 14, 14, 32), np.float32), rng.standard_normal((32, 14, 14, 32)).astype(np.float32), \
        np.empty_like(x)

    def fastnn_step():
        ops.max_pool2d(x, 2, out=y)
        ops.max_pool2d_backward(x, y, dy, 2, out=dx)
    impls = {"fastnn": fastnn_step}
    if torch is not None:
        xt, dyt = torch.randn(32, 32, 28, 28, requires_grad=True), torch.randn(32, 32, 14, 14)

        def torch_step():
            xt.grad = None
            torch.nn.functional.max_pool2d(xt, 2).backward(dyt)
        impls["torch"] = torch_step
    return Row("max pool 2x2 fwd+bwd N32 28x28x32", impls, threads=threads)


def _batch_norm_row(threads, rng, torch):
    x = rng.standard_normal((32, 28, 28, 32)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    gamma, beta = np.ones(32, np.float32), np.zeros(32, np.float32)
    moving_mean, moving_var = np.zeros(32, np.float32), np.ones(32, np.float32)
    y, grads = np.empty_like(x), (np.empty_like(x), np.empty(32, np.float32), np.empty(32, np.float32))
    scratch = np.empty(ops.batch_norm_scratch_size(32), np.float32)

    def fastnn_step():
        _, mean, invstd = ops.batch_norm_forward(x, gamma, beta, moving_mean=moving_mean, moving_variance=moving_var,
                                                 out=y, scratch=scratch)
        ops.batch_norm_backward(x, dy, gamma, mean, invstd, out=grads, scratch=scratch)
    impls = {"fastnn": fastnn_step}
    if torch is not None:
        bn = torch.nn.BatchNorm2d(32).train()
        xt, dyt = torch.randn(32, 32, 28, 28, requires_grad=True), torch.randn(32, 32, 28, 28)

        def torch_step():
            xt.grad = None
            bn.zero_grad(set_to_none=True)
            bn(xt).backward(dyt)
        impls["torch"] = torch_step
    return Row("BatchNormalization train step N32 28x28x32", impls, threads=threads)


def _digits_cnn_row(threads, torch):
    """One epoch (1438 images, batch 32, Adam) of `python -m fastnn demo`'s CNN on the 8x8 digits."""
    from fastnn.layers import BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D

    (x, y), _ = fastnn.datasets.load_digits(test_fraction=0.2, seed=0)
    x = x.reshape(-1, 8, 8, 1)
    model = fastnn.Sequential([Conv2D(64, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
                               BatchNormalization(), MaxPooling2D(), Conv2D(64, 3, padding="same", activation="relu"),
                               GlobalAveragePooling2D(), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    impls = {"fastnn": lambda: model.fit(x, y, epochs=1, batch_size=32, verbose=0)}
    if torch is not None:
        nn = torch.nn
        net = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(64, eps=1e-3, momentum=0.01),
                            nn.MaxPool2d(2), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(64, 10))
        impls["torch"] = _torch_loop(torch, net, nn.CrossEntropyLoss(), torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                                     torch.from_numpy(y.astype(np.int64)), 1, 32)
    return Row("digits CNN epoch (1438 8x8, batch 32)", impls, threads=threads)


# Run in a fresh interpreter: how far the resident set rises above where it stood, once the inputs,
# outputs and gradients exist, over a conv's forward and backward (N16 56x56 64->64). The kernel's
# high-water mark is reset first (clear_refs), so earlier temporaries do not hide the rise.
_MEMORY_PROBE = """
import json, sys
import numpy as np
side, threads = sys.argv[1], int(sys.argv[2])
n, size, c, f = 16, 56, 64, 64
def status_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024
if side == "fastnn":
    import fastnn
    fastnn.set_num_threads(threads)
    x = np.random.rand(n, size, size, c).astype(np.float32); w = np.random.rand(3, 3, c, f).astype(np.float32)
    b = np.zeros(f, np.float32); dy = np.random.rand(n, size, size, f).astype(np.float32)
    y, grads = np.full_like(dy, 0.5), (np.full_like(x, 0.5), np.full_like(w, 0.5), np.full_like(b, 0.5))
    def step():
        fastnn.ops.conv2d(x, w, b, padding="same", out=y)
        fastnn.ops.conv2d_backward(x, w, dy, padding="same", out=grads)
else:
    import torch
    torch.set_num_threads(threads)
    conv = torch.nn.Conv2d(c, f, 3, padding=1)
    x = torch.rand(n, c, size, size, requires_grad=True); dy = torch.rand(n, f, size, size)
    x.grad = torch.zeros_like(x); conv.weight.grad = torch.zeros_like(conv.weight)
    conv.bias.grad = torch.zeros_like(conv.bias)
    def step():
        conv(x).backward(dy)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
before = status_mb("VmRSS:")
for _ in range(3):
    step()
print(json.dumps(status_mb("VmHWM:") - before))
"""


def memory_report(threads):
    """Lines: the extra memory (MB) of a conv's forward and backward on each side."""
    lines = ["extra memory of conv 3x3 same fwd+bwd N16 56x56 64->64 (peak resident set over the step's start; "
             "a whole im2col would be 115.6 MB; torch's includes the 12.8 MB output it allocates per call):"]
    sides = ["fastnn"] + (["torch"] if _torch() is not None else [])
    for side in sides:
        # a fixed mmap threshold: every large buffer is fresh pages, not memory an earlier one left behind
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, side, str(threads)], capture_output=True,
                             text=True, check=True, env=env).stdout
        lines.append(f"  {side:<8} {json.loads(out):8.1f} MB")
    return lines


if __name__ == "__main__":
    # python benchmarks/conv_rows.py [batch size channels filters]: the passes of one conv row, at 1 and 2 threads
    from fastnn import _C
    from fastnn.benchmark import measure, print_table

    shape = tuple(int(v) for v in sys.argv[1:5]) if len(sys.argv) >= 5 else (32, 14, 32, 64)
    print_table([measure(row) for t in (1, 2) for row in conv_pass_rows(t, shape, _C.fma_peak(t))])
