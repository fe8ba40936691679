"""The GEMM's scratch memory belongs to the threads that run it: threads that come and go leave none
behind."""
import os
import threading

import numpy as np
import pytest

import fastnn

STATM = "/proc/self/statm"


def resident_bytes():
    with open(STATM) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists(STATM), reason="needs Linux's /proc/self/statm")
@pytest.mark.parametrize("threads", [1, 2])
def test_short_lived_threads_leave_no_pack_buffers(rng, threads):
    """Each thread packs a few MB (A and B blocks, its OpenMP team's too); 100 of them in turn must not
    add up: resident memory stays within a few threads' worth."""
    a = rng.standard_normal((600, 1024)).astype(np.float32)    # rows 4 KiB apart: A is packed too
    b = rng.standard_normal((1024, 700)).astype(np.float32)
    expected = fastnn.ops.matmul(a, b)

    def work(results, i):
        with fastnn.threads(threads):
            results[i] = np.array_equal(fastnn.ops.matmul(a, b), expected) and \
                np.array_equal(fastnn.ops.matmul(a[:1], b), expected[:1])

    def run_threads(count):
        results = [False] * count
        for i in range(count):
            t = threading.Thread(target=work, args=(results, i))
            t.start()
            t.join()
        assert all(results)

    run_threads(5)
    before = resident_bytes()
    run_threads(100)
    grown = resident_bytes() - before
    assert grown < 24 << 20, f"resident memory grew by {grown >> 20} MiB over 100 short-lived threads"
