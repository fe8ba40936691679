"""Fixtures that run kernel tests under every SIMD path this CPU has and with 1 and 2 threads."""
import numpy as np
import pytest

import fastnn
from fastnn import _C

SUPPORTED_SIMD = [p for p in _C.SIMD_PATHS if _C.cpu_supports(p)]


@pytest.fixture(params=_C.SIMD_PATHS)
def simd(request):
    """Force each SIMD path in turn; paths this CPU lacks are skipped, and the default restored."""
    path = request.param
    if path not in SUPPORTED_SIMD:
        pytest.skip(f"this CPU does not support {path}")
    previous = _C.simd_get()
    _C.simd_set(path)
    yield path
    _C.simd_set(previous)


@pytest.fixture(params=[1, 2])
def nthreads(request):
    with fastnn.threads(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


_REPORT_LINES = pytest.StashKey[list]()


@pytest.fixture
def fuzz_report(request):
    """fuzz_report(line): show line in the test run's closing summary (fuzz case counts)."""
    return request.config.stash.setdefault(_REPORT_LINES, []).append


def pytest_terminal_summary(terminalreporter, config):
    for line in config.stash.get(_REPORT_LINES, []):
        terminalreporter.write_line(line)
