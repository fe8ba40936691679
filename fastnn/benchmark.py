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

__all__ = ["Row", "measure", "print_table", "same_threads", "gemm_rows", "gemm_extra_rows", "GEMM_SHAPES",
           "gemm_shape_rows", "main"]


class Row:
    """One benchmark row: named implementations of the same work.

    Args:
        name: what the row measures.
        impls: dict implementation name -> zero-argument callable; "fastnn" is the reference side.
        flops: floating-point operations per call, to report GFLOP/s (optional).
        threads: thread count used on every side.
        unit: what the medians count: "s" (seconds per call) or "B" (bytes).
        peak: the machine's GFLOP/s ceiling at this thread count, to report fastnn's share of it
            (optional; see fastnn._C.fma_peak).
        min_samples: the fewest samples `measure` takes, whatever it is asked for (optional): rows
            whose sides are within a few percent of each other need more for their ratio to settle.
    """

    def __init__(self, name, impls, flops=None, threads=None, unit="s", peak=None, min_samples=0):
        self.name, self.impls, self.flops, self.threads = name, impls, flops, threads
        self.min_samples = min_samples
        self.unit, self.peak = unit, peak
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
    samples = max(samples, row.min_samples)
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
    """Print each row: fastnn's median, every peer's median, peer/fastnn ratio, GFLOP/s and, where the
    row knows the machine's peak, fastnn's percentage of it."""
    peers = []
    for row in rows:
        peers += [n for n in row.impls if n != "fastnn" and n not in peers]
    with_peak = any(row.peak for row in rows)
    header = f"{'benchmark':<46} {'thr':>3} {'fastnn':>10}" + "".join(
        f" {p:>10} {p + '/fastnn':>14}" for p in peers) + f" {'GFLOP/s':>8}" + (f" {'% peak':>7}" if with_peak else "")
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
        if with_peak:
            line += f" {100 * row.flops / mine / 1e9 / row.peak:>6.0f}%" if row.flops and row.peak else f" {'':>7}"
        print(line, file=file)


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _matmul_row(rng, m, k, n, threads, trans_a=False, trans_b=False, peak=None):
    """fastnn.ops.matmul against np.matmul for op(A) (m, k) @ op(B) (k, n), into a preallocated out."""
    a = _rand(rng, k, m) if trans_a else _rand(rng, m, k)
    b = _rand(rng, n, k) if trans_b else _rand(rng, k, n)
    out = np.empty((m, n), np.float32)
    a_np, b_np = (a.T if trans_a else a), (b.T if trans_b else b)
    name = f"matmul {m}x{k}x{n}" + (" (A transposed)" if trans_a else "") + (" (B transposed)" if trans_b else "")
    return Row(name, {"fastnn": lambda: fastnn.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b, out=out),
                      "numpy": lambda: np.matmul(a_np, b_np, out=out)}, 2 * m * n * k, threads, peak=peak)


# The GEMM shapes of the parity issue, M x K x N and whether B is transposed: square products, a deep-K
# product with few rows (a weight gradient, an LSTM step), the transposed-B product of a dense
# backward, and the mid-size shapes of dense and convolution layers.
GEMM_SHAPES = [(1024, 1024, 1024, False), (2048, 2048, 2048, False), (512, 512, 512, False),
               (64, 4096, 1024, False), (256, 256, 784, True), (256, 784, 256, False), (32, 784, 128, False),
               (3136, 576, 64, False)]


def gemm_shape_rows(thread_counts=(1, 2), peaks=None):
    """One row per GEMM_SHAPES entry and thread count, against NumPy's BLAS.

    Args:
        thread_counts: the thread counts to run each shape at.
        peaks: optional dict thread count -> measured GFLOP/s ceiling, for the % peak column.
    """
    rng = np.random.default_rng(0)
    return [_matmul_row(rng, m, k, n, t, trans_b=trans_b, peak=(peaks or {}).get(t))
            for m, k, n, trans_b in GEMM_SHAPES for t in thread_counts]


def gemm_extra_rows(threads=2):
    """A transposed-A product (a dense weight gradient) and the dense layer's fused epilogue."""
    rng = np.random.default_rng(1)
    x, w, bias = _rand(rng, 256, 784), _rand(rng, 784, 256), _rand(rng, 256)
    return [_matmul_row(rng, 784, 256, 256, threads, trans_a=True),
            Row("dense relu 256x784x256 vs np.maximum(x@w+b, 0)", {
                "fastnn": lambda: fastnn.ops.dense(x, w, bias, "relu"),
                "numpy": lambda: np.maximum(x @ w + bias, 0)}, 2 * 256 * 784 * 256, threads)]


def gemm_rows(threads=2):
    """The quick GEMM and dense table of `python -m fastnn`, against NumPy's BLAS."""
    rng = np.random.default_rng(0)
    return [_matmul_row(rng, 1024, 1024, 1024, threads), _matmul_row(rng, 1024, 1024, 1024, 1),
            _matmul_row(rng, 256, 784, 256, threads), _matmul_row(rng, 32, 784, 128, threads),
            _matmul_row(rng, 256, 256, 784, threads, trans_b=True)] + gemm_extra_rows(threads)


def main(threads=None, file=None, samples=5):
    """Print the fastnn-vs-NumPy GEMM table (benchmarks/compare.py takes more samples)."""
    threads = threads or fastnn.get_num_threads()
    rows = [measure(r, samples=samples) for r in gemm_rows(threads)]
    print_table(rows, file=file)
    return rows
