"""Thread counts are bounded, and a process forked after a multithreaded kernel keeps working."""
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import _C

# The folder the fastnn under test was imported from, so that child processes import the same one.
ROOT = Path(fastnn.__file__).resolve().parent.parent


def run_python(code, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "FASTNN_NUM_THREADS")}
    env.update(env_vars, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", True, None])
def test_set_num_threads_refuses_what_is_not_a_positive_int(n):
    with pytest.raises(ValueError, match="set_num_threads"):
        fastnn.set_num_threads(n)


def test_set_num_threads_refuses_more_than_the_cap_and_accepts_the_cap():
    cap = fastnn.max_threads()
    assert 4 <= cap <= 256
    previous = fastnn.get_num_threads()
    try:
        for n in (cap + 1, 5000, 10**12):
            with pytest.raises(ValueError, match=f"at most {cap}"):
                fastnn.set_num_threads(n)
        assert fastnn.get_num_threads() == previous
        fastnn.set_num_threads(cap)
        assert fastnn.get_num_threads() == cap
    finally:
        fastnn.set_num_threads(previous)


def test_the_c_setting_is_clamped_whatever_it_is_given():
    previous = fastnn.get_num_threads()
    try:
        _C.set_num_threads(100000)
        assert fastnn.get_num_threads() == 256
        _C.set_num_threads(-3)
        assert fastnn.get_num_threads() == 1
    finally:
        fastnn.set_num_threads(previous)


LARGE_KERNEL = ("import numpy as np, fastnn; a = np.ones((600, 600), np.float32); "
                "c = fastnn.ops.matmul(a, a); print(fastnn.get_num_threads(), fastnn.max_threads(), c[5, 7])")


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "FASTNN_NUM_THREADS"])
def test_a_huge_thread_count_from_the_environment_is_clamped_with_a_warning(variable):
    result = run_python(LARGE_KERNEL, **{variable: "5000"})
    assert result.returncode == 0, result.stderr
    threads, cap, value = result.stdout.split()
    assert threads == cap and float(value) == 600
    assert f"{variable}=5000 is more than the {cap} threads" in result.stderr


def test_fastnn_num_threads_wins_over_omp_num_threads():
    result = run_python("import fastnn; print(fastnn.get_num_threads())", OMP_NUM_THREADS="3",
                        FASTNN_NUM_THREADS="2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2"]


# The child of a fork after a two-thread kernel runs kernels of every threaded kind (GEMM along rows,
# an elementwise parallel_for, a convolution); SIGALRM ends it if it hangs, and the parent keeps two
# threads and bitwise equal results.
FORK_AFTER_THREADS = """
import os, signal, numpy as np, fastnn
fastnn.set_num_threads(2)
rng = np.random.default_rng(0)
a = rng.standard_normal((500, 300)).astype(np.float32)
b = rng.standard_normal((300, 400)).astype(np.float32)
x = rng.standard_normal((4, 24, 24, 8)).astype(np.float32)
k = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
big = rng.standard_normal(1 << 20).astype(np.float32)
def work():
    return (fastnn.ops.matmul(a, b), fastnn.ops.activation_forward("tanh", big), fastnn.ops.conv2d(x, k))
expected = work()
pid = os.fork()
if pid == 0:
    signal.alarm(60)
    got = work()
    same = all(np.array_equal(g, e) for g, e in zip(got, expected))
    os._exit(0 if same and fastnn.get_num_threads() == 1 else 3)
_, status = os.waitpid(pid, 0)
again = work()
print(os.waitstatus_to_exitcode(status), fastnn.get_num_threads(),
      all(np.array_equal(g, e) for g, e in zip(again, expected)))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_child_forked_after_a_threaded_kernel_runs_kernels_single_threaded():
    result = run_python(FORK_AFTER_THREADS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "2", "True"]


def matmul_sum(seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((400, 300)).astype(np.float32)
    return float(fastnn.ops.matmul(a, a.T).sum()), fastnn.get_num_threads()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method")
def test_multiprocessing_fork_pool_after_a_threaded_kernel():
    previous = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(2)
        expected = [matmul_sum(seed)[0] for seed in range(4)]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map_async(matmul_sum, range(4)).get(timeout=90)
        assert [r[0] for r in results] == expected
        assert {r[1] for r in results} == {1}
    finally:
        fastnn.set_num_threads(previous)


# A thread of the parent holds the training lock (it is inside fit) when the main thread forks: the
# child's evaluate and fit must not wait for a thread that does not exist there.
FORK_DURING_FIT = """
import os, signal, threading, numpy as np, fastnn
from fastnn import layers
x = np.random.default_rng(0).random((64, 8)).astype("float32"); y = x.sum(axis=1, keepdims=True)
model = fastnn.Sequential([fastnn.Input((8,)), layers.Dense(4), layers.Dense(1)])
model.compile("adam", "mse"); model.fit(x, y, epochs=1, verbose=0)
holding, done = threading.Event(), threading.Event()
def inside_fit():
    with model._runner().lock, model._cache_lock:
        holding.set(); done.wait()
thread = threading.Thread(target=inside_fit); thread.start(); holding.wait()
pid = os.fork()
if pid == 0:
    signal.alarm(60)
    model.evaluate(x, y, verbose=0); model.fit(x, y, epochs=1, verbose=0)
    os._exit(0)
_, status = os.waitpid(pid, 0)
done.set(); thread.join()
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_child_forked_while_a_thread_is_in_fit_can_evaluate_and_fit():
    result = run_python(FORK_DURING_FIT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]
