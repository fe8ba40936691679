"""Elementwise, softmax, loss and optimizer rows for compare.py, with their memory roofline.

Each row times fastnn, PyTorch (its out= kernels, fused optimizers, autograd for the losses) and, as
a third side interleaved with them, a copy that moves the same number of bytes as the kernel (half
read, half written) with torch's parallel copy at the row's thread count: copy/fastnn is the
fraction of the copy roofline fastnn reaches. Sizes are far larger than the caches (16M floats, the
losses 4M x 1, the optimizers 10M parameters), so every row is a memory-bandwidth test.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fastnn
from fastnn import ops
from fastnn.benchmark import Row

ACTIVATION_N = 16 * 1024 * 1024
LOSS_ROWS = 4 * 1024 * 1024
OPTIMIZER_N = 10_000_000
# The updates meet torch's fused ones at the memory roofline (the ratio sits near 1.1x), where 11 samples
# of a noisy host left single rows anywhere in 0.93-1.25x; 31 samples kept them within 1.07-1.26x.
OPTIMIZER_SAMPLES = 31
FLOAT = 4


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


class _Copies:
    """The roofline: np.copyto over `threads` equal slices, each on its own Python thread (numpy
    releases the GIL to copy, so the slices run in parallel at memcpy speed), one buffer pair per
    byte count."""

    def __init__(self):
        self.pairs, self.pools = {}, {}

    def __call__(self, moved_bytes, threads):
        n = moved_bytes // (2 * FLOAT)
        if n not in self.pairs:
            src = np.random.default_rng(0).standard_normal(n).astype(np.float32)
            self.pairs[n] = (src, np.empty_like(src))
        if threads not in self.pools:
            self.pools[threads] = ThreadPoolExecutor(threads)
        src, dst = self.pairs[n]
        bounds = np.linspace(0, n, threads + 1).astype(int)
        slices = [(dst[lo:hi], src[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
        pool = self.pools[threads]
        return lambda: [job.result() for job in [pool.submit(np.copyto, d, s) for d, s in slices]]


def _row(name, impls, moved_bytes, threads, copies, min_samples=0):
    impls = {k: v for k, v in impls.items() if v is not None}
    impls["copy"] = copies(moved_bytes, threads)
    row = Row(name, impls, threads=threads, min_samples=min_samples)
    row.moved_bytes = moved_bytes
    return row


def _torch_activation(torch, name, tx, ty, tdy, tdx):
    """torch's forward and backward kernels for one activation, writing into preallocated tensors."""
    if torch is None:
        return None, None
    aten = torch.ops.aten
    forward = {
        "sigmoid": lambda: torch.sigmoid(tx, out=ty),
        "tanh": lambda: torch.tanh(tx, out=ty),
        "gelu": lambda: aten.gelu.out(tx, out=ty),
        "silu": lambda: aten.silu.out(tx, out=ty),
        "elu": lambda: aten.elu.out(tx, 1.0, 1, 1, out=ty),
        "softplus": lambda: aten.softplus.out(tx, 1, 20, out=ty),
    }[name]
    backward = {
        "sigmoid": lambda: aten.sigmoid_backward.grad_input(tdy, ty, grad_input=tdx),
        "tanh": lambda: aten.tanh_backward.grad_input(tdy, ty, grad_input=tdx),
        "gelu": lambda: aten.gelu_backward.grad_input(tdy, tx, grad_input=tdx),
        "silu": lambda: aten.silu_backward.grad_input(tdy, tx, grad_input=tdx),
        "elu": lambda: aten.elu_backward.grad_input(tdy, 1.0, 1, 1, True, ty, grad_input=tdx),
        "softplus": lambda: aten.softplus_backward.grad_input(tdy, tx, 1, 20, grad_input=tdx),
    }[name]
    return forward, backward


def activation_rows(threads, copies):
    torch = _torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(ACTIVATION_N).astype(np.float32) * 3
    dy = rng.standard_normal(ACTIVATION_N).astype(np.float32)
    y, dx = np.empty_like(x), np.empty_like(x)
    tensors = [torch.from_numpy(a) for a in (x, np.empty_like(x), dy, np.empty_like(x))] if torch else [None] * 4
    rows = []
    for name in ("sigmoid", "tanh", "gelu", "silu", "elu", "softplus"):
        t_forward, t_backward = _torch_activation(torch, name, *tensors)
        if t_forward is not None:
            t_forward()
        ops.activation_forward(name, x, out=y)
        reads = ops.activation_backward_input(name)
        x_or_none, y_or_none = (x, None) if reads == "x" else (None, y)
        rows.append(_row(f"{name} forward 16M", {
            "fastnn": lambda name=name: ops.activation_forward(name, x, out=y), "torch": t_forward},
            2 * x.nbytes, threads, copies))
        rows.append(_row(f"{name} backward 16M (reads dy, {reads})", {
            "fastnn": lambda name=name, xn=x_or_none, yn=y_or_none: ops.activation_backward(
                name, xn, yn, dy, out=dx),
            "torch": t_backward}, 3 * x.nbytes, threads, copies))
    return rows


def softmax_rows(threads, copies):
    torch = _torch()
    rng = np.random.default_rng(1)
    rows = []
    for cols in (1024, 10):
        shape = (ACTIVATION_N // cols, cols)
        x = rng.standard_normal(shape).astype(np.float32) * 3
        dy = rng.standard_normal(shape).astype(np.float32)
        y, dx = ops.activation_forward("softmax", x), np.empty_like(x)
        t_forward = t_backward = None
        if torch is not None:
            aten = torch.ops.aten
            tx, ty, tdy, tdx = (torch.from_numpy(a) for a in (x, y.copy(), dy, dx.copy()))
            t_forward = lambda tx=tx, ty=ty: aten._softmax.out(tx, -1, False, out=ty)  # noqa: E731
            t_backward = lambda tdy=tdy, ty=ty, tdx=tdx: aten._softmax_backward_data.out(  # noqa: E731
                tdy, ty, -1, torch.float32, grad_input=tdx)
        rows.append(_row(f"softmax forward {shape[0]}x{cols}", {
            "fastnn": lambda x=x, y=y: ops.activation_forward("softmax", x, out=y), "torch": t_forward},
            2 * x.nbytes, threads, copies))
        rows.append(_row(f"softmax backward {shape[0]}x{cols}", {
            "fastnn": lambda y=y, dy=dy, dx=dx: ops.activation_backward("softmax", None, y, dy, out=dx),
            "torch": t_backward}, 3 * x.nbytes, threads, copies))
    return rows


def _torch_loss(torch, loss_fn, p, t):
    """loss and gradient through torch autograd, as a training step computes them."""
    tp = torch.from_numpy(p).requires_grad_(True)
    tt = torch.from_numpy(t)

    def run():
        tp.grad = None
        loss = loss_fn(tp, tt)
        loss.backward()
        return loss.item()
    return run


def loss_rows(threads, copies):
    torch = _torch()
    rng = np.random.default_rng(2)
    z = rng.standard_normal((LOSS_ROWS, 1)).astype(np.float32) * 3
    t01 = rng.integers(0, 2, size=(LOSS_ROWS, 1)).astype(np.float32)
    t = rng.standard_normal((LOSS_ROWS, 1)).astype(np.float32)
    grad = np.empty_like(z)
    nn = torch.nn.functional if torch else None

    def numpy_mse():
        e = z - t
        value = float(np.mean(e * e))
        np.multiply(e, 2.0 / e.size, out=grad)
        return value
    return [
        _row("binary crossentropy from logits 4Mx1", {
            "fastnn": lambda: ops.loss_binary_crossentropy(t01, z, from_logits=True, grad_out=grad),
            "torch": _torch_loss(torch, nn.binary_cross_entropy_with_logits, z, t01) if torch else None},
            3 * z.nbytes, threads, copies),
        _row("mse 4Mx1", {
            "fastnn": lambda: ops.loss_mse(t, z, grad_out=grad),
            "torch": _torch_loss(torch, nn.mse_loss, z, t) if torch else None,
            "numpy": numpy_mse}, 3 * z.nbytes, threads, copies),
    ]


def _torch_optimizer(torch, make, p, g):
    if torch is None:
        return None
    w = torch.from_numpy(p.copy()).requires_grad_(True)
    w.grad = torch.from_numpy(g)
    opt = make([w])
    return opt.step


def optimizer_rows(threads, copies):
    torch = _torch()
    rng = np.random.default_rng(3)
    n = OPTIMIZER_N
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32) * 1e-3
    m, v, s = (np.zeros(n, np.float32) for _ in range(3))
    step = [0]

    def adam(decay=0.0):
        step[0] += 1
        ops.adam_update(p, g, m, v, None, 1e-3, 0.9, 0.999, 1e-7, step[0], decay=decay)

    def adamw():
        adam(decay=1e-3 * 0.01)
    optim = torch.optim if torch else None
    cases = [  # name, fastnn step, torch step factory, bytes moved (per float: reads + writes)
        ("Adam", adam, lambda ps: optim.Adam(ps, lr=1e-3, fused=True), 7),
        ("AdamW", adamw, lambda ps: optim.AdamW(ps, lr=1e-3, weight_decay=0.01, fused=True), 7),
        ("SGD momentum", lambda: ops.sgd_update(p, g, s, 1e-3, 0.9),
         lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True), 5),
        ("RMSprop", lambda: ops.rmsprop_update(p, g, s, None, None, 1e-3, 0.9, 0.0, 1e-7, False),
         lambda ps: optim.RMSprop(ps, lr=1e-3, alpha=0.9, foreach=True), 5),
        ("Adagrad", lambda: ops.adagrad_update(p, g, s, 1e-3, 1e-7),
         lambda ps: optim.Adagrad(ps, lr=1e-3, fused=True), 5),
    ]
    rows = []
    for name, mine, make, floats_moved in cases:
        torch_step = _torch_optimizer(torch, make, p, g)
        for t in sorted({1, threads}):
            rows.append(_row(f"{name} update 10M", {"fastnn": mine, "torch": torch_step},
                             floats_moved * FLOAT * n, t, copies, OPTIMIZER_SAMPLES))
    return rows


def kernel_rows(threads):
    copies = _Copies()
    return (activation_rows(threads, copies) + softmax_rows(threads, copies) + loss_rows(threads, copies)
            + optimizer_rows(threads, copies))


def print_roofline(rows, file=None):
    """fastnn's GB/s next to the copy of the same bytes, and the ratio of every peer to fastnn."""
    header = (f"{'kernel':<40} {'thr':>3} {'fastnn':>9} {'GB/s':>6} {'copy GB/s':>9} {'% copy':>6}"
              f" {'torch/fastnn':>12} {'numpy/fastnn':>12}")
    print(header, file=file)
    print("-" * len(header), file=file)
    for row in rows:
        mine, moved = row.medians["fastnn"], row.moved_bytes

        def ratio(peer):
            return f"{row.medians[peer] / mine:>11.2f}x" if peer in row.medians else f"{'-':>12}"
        print(f"{row.name:<40} {row.threads:>3} {mine * 1e3:>7.2f}ms {moved / mine / 1e9:>6.1f}"
              f" {moved / row.medians['copy'] / 1e9:>9.1f} {100 * row.medians['copy'] / mine:>5.0f}%"
              f" {ratio('torch')} {ratio('numpy')}", file=file)
