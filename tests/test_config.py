"""Threads, SIMD selection, show_config and import-time behaviour."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import _C


def run_python(code, **env):
    """Run code in a fresh interpreter with extra environment variables; return the CompletedProcess."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("FASTNN_SIMD", "OMP_NUM_THREADS")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def test_threads_context_restores_even_on_error():
    before = fastnn.get_num_threads()
    with pytest.raises(RuntimeError):
        with fastnn.threads(1):
            assert fastnn.get_num_threads() == 1
            raise RuntimeError("boom")
    assert fastnn.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="positive int"):
        fastnn.set_num_threads(bad)


def test_default_threads_follow_omp_num_threads_then_affinity():
    assert run_python("import fastnn; print(fastnn.get_num_threads())", OMP_NUM_THREADS="1").stdout.strip() == "1"
    expected = len(os.sched_getaffinity(0))
    assert run_python("import fastnn; print(fastnn.get_num_threads())").stdout.strip() == str(expected)


def test_forcing_each_supported_simd_path_at_import():
    for path in _C.SIMD_PATHS:
        result = run_python("import fastnn; print(fastnn.simd_path())", FASTNN_SIMD=path)
        if _C.cpu_supports(path):
            assert result.returncode == 0 and result.stdout.strip() == path
        else:
            assert result.returncode != 0
            assert f"does not support {path}" in result.stderr


def test_unknown_simd_path_is_a_clear_error():
    result = run_python("import fastnn", FASTNN_SIMD="sse9")
    assert result.returncode != 0 and "scalar, avx2, avx512" in result.stderr


def test_import_starts_no_thread():
    code = ("import os, numpy; before = len(os.listdir('/proc/self/task')); import fastnn; "
            "after = len(os.listdir('/proc/self/task')); print(before, after)")
    before, after = run_python(code).stdout.split()
    assert before == after


def test_show_config_names_version_path_openmp_threads(capsys):
    fastnn.show_config()
    text = capsys.readouterr().out
    for word in (fastnn.__version__, fastnn.simd_path(), "OpenMP", f"threads:   {fastnn.get_num_threads()}"):
        assert word in text


def test_seed_makes_the_generator_repeat():
    fastnn.set_seed(7)
    first = fastnn._config.generator().random(5)
    fastnn.set_seed(7)
    assert np.array_equal(first, fastnn._config.generator().random(5))
    with pytest.raises(ValueError):
        fastnn.set_seed(-3)
