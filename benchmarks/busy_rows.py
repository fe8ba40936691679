"""fastnn on a machine where another process keeps one core busy: 2 threads against 1, interleaved.

A burner process spins on the last CPU this process may use. Each workload (a large GEMM, an MLP
training epoch, an elementwise kernel, an LSTM training epoch) is then timed at 1 and at 2 threads in
turn, medians of `samples`, and the row reports time(2 threads) / time(1 thread): above 1, the second
thread costs more than it brings (the target is at most 1.3). The same rows without the burner come
first, for reference.

Usage: python benchmarks/busy_rows.py [--samples N]   (or compare.py --only busy)
"""
import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import fastnn

SPIN = "while True: pass"


@contextlib.contextmanager
def busy_core():
    """A process spinning on the last CPU we may use, for the duration of the block."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    burner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(burner.pid, {cpus[-1]})
        time.sleep(0.2)  # let it reach its core
        yield cpus[-1]
    finally:
        burner.kill()
        burner.wait()


def workloads():
    """name -> zero-argument callable, each 10-300 ms on one core."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    b = rng.standard_normal((1024, 1024)).astype(np.float32)
    x = rng.standard_normal((4096, 784)).astype(np.float32)
    labels = rng.integers(0, 10, size=4096)
    from fastnn.layers import Dense
    from fastnn.models import Sequential

    fastnn.set_seed(0)
    model = Sequential([fastnn.layers.Input((784,)), Dense(256, activation="relu"), Dense(128, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    big = rng.standard_normal(1 << 22).astype(np.float32)
    out = np.empty_like(big)
    # the recurrent steps split rows between threads, each running its rows through the whole sequence
    sequences = rng.standard_normal((256, 50, 64)).astype(np.float32)
    targets = rng.standard_normal((256, 1)).astype(np.float32)
    lstm = Sequential([fastnn.layers.Input((50, 64)), fastnn.layers.LSTM(128), Dense(1)])
    lstm.compile(optimizer="sgd", loss="mse")
    return {
        "matmul 1024x1024x1024": lambda: fastnn.ops.matmul(a, b),
        "MLP 784-256-128-10 epoch (4096 rows, batch 128)":
            lambda: model.fit(x, labels, epochs=1, batch_size=128, verbose=0, shuffle=False),
        "tanh over 4M floats": lambda: fastnn.ops.activation_forward("tanh", big, out=out),
        "LSTM epoch (256 x 50 x 64, 128 units, batch 32)":
            lambda: lstm.fit(sequences, targets, epochs=1, batch_size=32, verbose=0, shuffle=False),
    }


def one_vs_two(fn, samples):
    """Medians of fn's seconds at 1 and at 2 threads, sampled in turn (the order alternating)."""
    times = {1: [], 2: []}
    for i in range(samples):
        for threads in ((1, 2) if i % 2 == 0 else (2, 1)):
            with fastnn.threads(threads):
                fn()  # warm: caches, workspace, the team
                start = time.perf_counter()
                fn()
                times[threads].append(time.perf_counter() - start)
    return statistics.median(times[1]), statistics.median(times[2])


def busy_rows(samples=7):
    """[(workload, 'idle' or 'one core busy', seconds at 1 thread, seconds at 2 threads)]."""
    rows = []
    work = workloads()
    for state in ("idle", "one core busy"):
        with busy_core() if state != "idle" else contextlib.nullcontext():
            for name, fn in work.items():
                rows.append((name, state, *one_vs_two(fn, samples)))
    return rows


def print_busy_rows(rows, file=None):
    print(f"{'workload':<48} {'other process':<14} {'1 thread':>10} {'2 threads':>10} {'2 / 1':>7}", file=file)
    print("-" * 93, file=file)
    for name, state, one, two in rows:
        print(f"{name:<48} {state:<14} {one * 1e3:>8.1f}ms {two * 1e3:>8.1f}ms {two / one:>6.2f}x", file=file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()
    fastnn.show_config()
    print_busy_rows(busy_rows(args.samples))


if __name__ == "__main__":
    main()
