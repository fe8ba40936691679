"""The package builds without OpenMP (FASTNN_NO_OPENMP=1) and then works single-threaded on the
portable path alone."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build_without_openmp(tmp_path_factory):
    pytest.importorskip("Cython")
    work = tmp_path_factory.mktemp("build")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "csrc", work / "csrc")
    shutil.copytree(ROOT / "fastnn", work / "fastnn",
                    ignore=shutil.ignore_patterns("*.so", "_C.c", "__pycache__", "*.html"))
    env = dict(os.environ, FASTNN_NO_OPENMP="1")
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return work, result


def test_build_without_openmp_warns_and_runs_on_the_scalar_path(build_without_openmp):
    work, build = build_without_openmp
    assert "without OpenMP" in build.stderr + build.stdout
    code = ("import numpy as np, fastnn; from fastnn import _C; "
            "a = np.random.rand(70, 90).astype(np.float32); b = np.random.rand(90, 50).astype(np.float32); "
            "err = np.abs(fastnn.ops.dense(a, b, None, 'tanh') - np.tanh(a.astype(np.float64) @ b)).max(); "
            "print(_C.openmp_enabled(), fastnn.simd_path(), err < 1e-4)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(FASTNN_SIMD="scalar", PYTHONPATH=str(work))
    result = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "scalar", "True"]
