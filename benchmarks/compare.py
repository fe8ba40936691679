"""fastnn side by side with NumPy and PyTorch: one process, interleaved, equal threads, medians.

Usage: python benchmarks/compare.py [--threads N] [--only gemm|kernels|models|rnn|conv|quant|busy]
`--only busy` is fastnn alone at 1 and 2 threads while another process keeps a core busy
(benchmarks/busy_rows.py); the full table leaves it out, since its burner would disturb the other rows.
NumPy's OpenBLAS picks its kernel and blocking from OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when they
are set; for a fair comparison this script runs itself again without them.
"""
import argparse
import os
import sys

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in OPENBLAS_OVERRIDES):
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_OVERRIDES}
    print(f"compare.py: running again without {', '.join(v for v in OPENBLAS_OVERRIDES if v in os.environ)}, "
          "so that OpenBLAS uses the kernel it detects", flush=True)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastnn  # noqa: E402
from fastnn import _C  # noqa: E402
from fastnn.benchmark import gemm_extra_rows, gemm_shape_rows, measure, print_table  # noqa: E402


def blas_description():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed: NumPy's BLAS threads are not pinned"
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()
            if i["user_api"] == "blas"]
    return "NumPy BLAS: " + (", ".join(blas) or "unknown")


def gemm_table(threads, samples):
    """The GEMM shapes at 1 and `threads` threads, each as a share of the measured FMA peak, then a
    transposed-A product and a fused dense layer."""
    counts = sorted({1, threads})
    peaks = {t: _C.fma_peak(t) for t in counts}
    print(f"FMA peak ({_C.gemm_blocking()['kernel']}, register-only loop): "
          + ", ".join(f"{peaks[t]:.1f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t in counts))
    return [measure(r, samples=samples) for r in gemm_shape_rows(counts, peaks) + gemm_extra_rows(threads)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["gemm", "kernels", "models", "rnn", "conv", "quant", "busy"])
    parser.add_argument("--samples", type=int, default=11)
    args = parser.parse_args()
    fastnn.show_config()
    print(blas_description())
    if args.only == "busy":
        from busy_rows import busy_rows, print_busy_rows
        print_busy_rows(busy_rows(args.samples))
        return
    rows = []
    if args.only in (None, "gemm"):
        rows += gemm_table(args.threads, args.samples)
    kernels = []
    if args.only in (None, "kernels"):
        from kernel_rows import kernel_rows
        kernels = [measure(r, samples=args.samples) for r in kernel_rows(args.threads)]
        rows += kernels
    if args.only in (None, "models"):
        from model_rows import import_row, memory_row, model_rows
        rows += [measure(r, samples=args.samples) for r in model_rows(args.threads)] + [import_row(), memory_row()]
    if args.only in (None, "rnn"):
        from rnn_rows import rnn_rows
        rows += [measure(r, samples=args.samples) for r in rnn_rows(args.threads)]
    notes = []
    if args.only in (None, "conv"):
        from conv_rows import conv_rows, memory_report
        rows += [measure(r, samples=args.samples) for r in conv_rows(args.threads)]
        notes = memory_report(args.threads)
    if args.only in (None, "quant"):
        from quant_rows import quant_notes, quant_rows
        rows += [measure(r, samples=args.samples) for r in quant_rows(args.threads)]
        notes += quant_notes(args.threads)
    print()
    print_table(rows)
    print("\n".join(notes))
    if kernels:
        from kernel_rows import print_roofline
        print()
        print_roofline(kernels)


if __name__ == "__main__":
    main()
