"""Side-by-side timing of fastnn against its peers: the harness behind `python -m fastnn` and
benchmarks/compare.py.

Every row runs all implementations in one process, interleaved (one sample of each in turn, in an
order that rotates), with the same thread count on every side, and reports medians and the ratio
peer time / fastnn time (above 1: fastnn is faster).
"""
import contextlib
import statistics
import time

import numpy as np

import fastnn

__all__ = ["Row", "measure", "print_table", "same_threads", "gemm_rows", "main"]


class Row:
    """One benchmark row: named implementations of the same work.

    Args:
        name: what the row measures.
        impls: dict implementation name -> zero-argument callable; "fastnn" is the reference side.
        flops: floating-point operations per call, to report GFLOP/s (optional).
        threads: thread count used on every side.
        unit: what the medians count: "s" (seconds per call) or "B" (bytes).
    """

    def __init__(self, name, impls, flops=None, threads=None, unit="s"):
        self.name, self.impls, self.flops, self.threads, self.unit = name, impls, flops, threads, unit
        self.medians = {}


@contextlib.contextmanager
def same_threads(n):
    """Give fastnn, OpenBLAS (through threadpoolctl) and torch (if imported) n threads each."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(fastnn.threads(n))
        try:
            from threadpoolctl import threadpool_limits
            stack.enter_context(threadpool_limits(limits=n))
        except ImportError:
            pass
        import sys
        torch = sys.modules.get("torch")
        if torch is not None:
            previous = torch.get_num_threads()
            torch.set_num_threads(n)
            stack.callback(torch.set_num_threads, previous)
        yield


def _calls_per_sample(fn, min_seconds):
    """How many calls make one sample last at least min_seconds (so µs-scale work is timed fairly)."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or calls >= 1 << 20:
            return calls
        calls *= 2 if elapsed * 4 > min_seconds else 8


def _run_for(fn, seconds):
    """Call fn at least once and until `seconds` have passed."""
    end = time.perf_counter() + seconds
    fn()
    while time.perf_counter() < end:
        fn()


def measure(row, samples=11, min_seconds=0.02, settle=0.2, warmup=0.1):
    """Fill row.medians (seconds per call) by interleaved sampling.

    Before each sample the previous implementation's idle threads are given `settle` seconds to stop
    spinning (OpenBLAS and OpenMP workers busy-wait after a call), so neither side is timed while the
    other holds the cores. Then the sampled implementation runs untimed for `warmup` seconds: on a
    virtual machine, cores that were idle run slower for tens of milliseconds after they wake.
    """
    with same_threads(row.threads or fastnn.get_num_threads()):
        names = list(row.impls)
        calls = {n: _calls_per_sample(row.impls[n], min_seconds) for n in names}
        times = {n: [] for n in names}
        for i in range(samples):
            for n in names[i % len(names):] + names[:i % len(names)]:
                fn, reps = row.impls[n], calls[n]
                time.sleep(settle)
                _run_for(fn, warmup)
                start = time.perf_counter()
                for _ in range(reps):
                    fn()
                times[n].append((time.perf_counter() - start) / reps)
    row.medians = {n: statistics.median(t) for n, t in times.items()}
    return row


def _format_value(value, unit):
    if unit == "B":
        return f"{value / 2 ** 20:.1f} MB"
    for name, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {name}"
    return f"{value * 1e9:.3g} ns"


def print_table(rows, file=None):
    """Print each row: fastnn's median, every peer's median, peer/fastnn ratio, and GFLOP/s."""
    peers = []
    for row in rows:
        peers += [n for n in row.impls if n != "fastnn" and n not in peers]
    header = f"{'benchmark':<46} {'thr':>3} {'fastnn':>10}" + "".join(
        f" {p:>10} {p + '/fastnn':>14}" for p in peers) + f" {'GFLOP/s':>8}"
    print(header, file=file)
    print("-" * len(header), file=file)
    for row in rows:
        mine = row.medians["fastnn"]
        line = f"{row.name:<46} {row.threads or '':>3} {_format_value(mine, row.unit):>10}"
        for p in peers:
            if p in row.medians:
                line += f" {_format_value(row.medians[p], row.unit):>10} {row.medians[p] / mine:>13.2f}x"
            else:
                line += f" {'-':>10} {'-':>14}"
        line += f" {row.flops / mine / 1e9:>8.1f}" if row.flops else f" {'':>8}"
        print(line, file=file)


def gemm_rows(threads=2):
    """The GEMM and dense rows of the foundation issue, against NumPy's BLAS."""
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    rows = []
    for m, k, n, t in ((1024, 1024, 1024, threads), (1024, 1024, 1024, 1), (256, 784, 256, threads),
                       (32, 784, 128, threads)):
        a, b, out = rand(m, k), rand(k, n), np.empty((m, n), np.float32)
        rows.append(Row(f"matmul {m}x{k}x{n}", {
            "fastnn": lambda a=a, b=b, out=out: fastnn.ops.matmul(a, b, out=out),
            "numpy": lambda a=a, b=b, out=out: np.matmul(a, b, out=out)}, 2 * m * n * k, t))
    a, b, out = rand(256, 784), rand(256, 256), np.empty((784, 256), np.float32)
    rows.append(Row("matmul A.T@B (784x256 by 256x256)", {
        "fastnn": lambda: fastnn.ops.matmul(a, b, trans_a=True, out=out),
        "numpy": lambda: np.matmul(a.T, b, out=out)}, 2 * 784 * 256 * 256, threads))
    a2, b2, out2 = rand(256, 256), rand(784, 256), np.empty((256, 784), np.float32)
    rows.append(Row("matmul A@B.T (256x256 by 784x256 transposed)", {
        "fastnn": lambda: fastnn.ops.matmul(a2, b2, trans_b=True, out=out2),
        "numpy": lambda: np.matmul(a2, b2.T, out=out2)}, 2 * 784 * 256 * 256, threads))
    x, w, bias = rand(256, 784), rand(784, 256), rand(256)

    rows.append(Row("dense relu 256x784x256 vs np.maximum(x@w+b, 0)", {
        "fastnn": lambda: fastnn.ops.dense(x, w, bias, "relu"),
        "numpy": lambda: np.maximum(x @ w + bias, 0)}, 2 * 256 * 784 * 256, threads))
    return rows


def main(threads=None, file=None, samples=5):
    """Print the fastnn-vs-NumPy GEMM table (benchmarks/compare.py takes more samples)."""
    threads = threads or fastnn.get_num_threads()
    rows = [measure(r, samples=samples) for r in gemm_rows(threads)]
    print_table(rows, file=file)
    return rows
