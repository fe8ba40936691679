"""fastnn side by side with NumPy and PyTorch: one process, interleaved, equal threads, medians.

Usage: python benchmarks/compare.py [--threads N] [--only gemm|models|conv]
To give NumPy its best OpenBLAS kernel, run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastnn  # noqa: E402
from fastnn.benchmark import gemm_rows, measure, print_table  # noqa: E402


def blas_description():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed: NumPy's BLAS threads are not pinned"
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()
            if i["user_api"] == "blas"]
    return "NumPy BLAS: " + (", ".join(blas) or "unknown")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["gemm", "models", "conv"])
    parser.add_argument("--samples", type=int, default=11)
    args = parser.parse_args()
    fastnn.show_config()
    print(blas_description())
    rows = []
    if args.only in (None, "gemm"):
        rows += [measure(r, samples=args.samples) for r in gemm_rows(args.threads)]
    if args.only in (None, "models"):
        from model_rows import import_row, model_rows
        rows += [measure(r, samples=args.samples) for r in model_rows(args.threads)] + [import_row()]
    notes = []
    if args.only in (None, "conv"):
        from conv_rows import conv_rows, memory_report
        rows += [measure(r, samples=args.samples) for r in conv_rows(args.threads)]
        notes = memory_report(args.threads)
    print()
    print_table(rows)
    print("\n".join(notes))


if __name__ == "__main__":
    main()
