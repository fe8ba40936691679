"""What users do that a Keras-only test plan misses: many batch sizes, many threads, NaN in the input.

- Memory is bounded: a model's workspace is sized for the largest batch seen, not one per batch size,
  and no buffer outlives the thread that used it.
- One model predicting from many threads at once gives exactly the serial results.
- Inference is batch-invariant: a row's output is bitwise the same alone, in any batch, at any position.
- NaN in gives NaN out, on every SIMD path.
"""
import sys
import threading

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense, Input, Reshape
from fastnn.models import Sequential
from fastnn.ops.nn import ACTIVATIONS

PAGE = 4096


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def wide_mlp():
    fastnn.set_seed(0)
    return Sequential([Input((784,)), Dense(1024, activation="relu"), Dense(1024, activation="relu"), Dense(10)])


def test_memory_does_not_grow_with_distinct_batch_sizes():
    model = wide_mlp()
    x = np.random.default_rng(0).standard_normal((300, 784)).astype(np.float32)
    model.predict_on_batch(x)
    model.predict_on_batch(x[:1])
    start = resident_bytes()
    for n in np.random.default_rng(1).permutation(np.arange(1, 301)):
        model.predict_on_batch(x[:n])
    assert resident_bytes() - start < 48 << 20


def test_short_lived_threads_leave_no_buffers_behind():
    model = wide_mlp()
    x = np.random.default_rng(0).standard_normal((64, 784)).astype(np.float32)
    expected = model.predict(x, verbose=0)

    def work():
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected)

    for _ in range(5):  # warm up the pools of the first threads
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    start = resident_bytes()
    for _ in range(100):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert resident_bytes() - start < 32 << 20


def run_threads(count, work):
    """work(i) on `count` threads at once; the first exception any of them raised is raised here."""
    errors = []

    def guarded(i):
        try:
            work(i)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_eight_threads_predicting_on_one_model_match_serial_results():
    model = wide_mlp()
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((n, 784)).astype(np.float32) for n in (1, 7, 32, 64, 100, 3, 250, 16)]
    expected = [model.predict(b, verbose=0) for b in batches]

    def work(seed):
        order = np.random.default_rng(seed).permutation(len(batches))
        for _ in range(6):
            for k in order:
                np.testing.assert_array_equal(model.predict(batches[k], verbose=0), expected[k])

    run_threads(8, work)


@pytest.fixture
def frequent_thread_switches():
    """Threads switch every microsecond, so a race shows in a few tries."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_first_predicts_from_four_threads_build_a_model_without_input_once(frequent_thread_switches):
    x = np.random.default_rng(5).standard_normal((64, 16)).astype(np.float32)
    for trial in range(10):
        fastnn.set_seed(trial)
        model = Sequential([Dense(8), Dense(3)])  # built by its first call
        outputs = [None] * 4

        def work(i):
            outputs[i] = model.predict(x, verbose=0)

        run_threads(4, work)
        assert [w.shape for w in model.get_weights()] == [(16, 8), (8,), (8, 3), (3,)]
        for out in outputs:
            np.testing.assert_array_equal(out, model.predict(x, verbose=0))


def test_a_first_call_that_cannot_build_leaves_the_model_unbuilt():
    model = Sequential([Dense(8), Reshape((3, 3))])
    with pytest.raises(ValueError, match="cannot reshape"):
        model.predict(np.zeros((2, 5), np.float32), verbose=0)
    assert not model.built
    with pytest.raises(ValueError, match="cannot reshape"):  # not a half-built model's output
        model.predict(np.zeros((2, 5), np.float32), verbose=0)


@pytest.mark.parametrize("activation", [a for a in ACTIVATIONS])
def test_inference_is_batch_invariant_for_every_activation(simd, activation):
    fastnn.set_seed(3)
    model = Sequential([Input((37,)), Dense(50, activation=activation), Dense(29, activation=activation),
                        Dense(7, activation="softmax" if activation == "softmax" else "linear")])
    x = np.random.default_rng(4).standard_normal((67, 37)).astype(np.float32)
    full = model.predict(x, verbose=0)
    for i in (0, 5, 66):
        np.testing.assert_array_equal(model.predict(x[i:i + 1], verbose=0)[0], full[i])
    for size in (2, 13, 32, 50):
        np.testing.assert_array_equal(model.predict(x, batch_size=size, verbose=0), full)
    np.testing.assert_array_equal(model.predict(x[::-1], verbose=0)[::-1], full)


@pytest.mark.parametrize("activation", [a for a in ACTIVATIONS])
def test_nan_in_gives_nan_out(simd, nthreads, activation):
    fastnn.set_seed(5)
    model = Sequential([Input((9,)), Dense(40, activation=activation), Dense(3, activation=activation)])
    model.compile("adam", "mse")
    x = np.random.default_rng(6).standard_normal((70, 9)).astype(np.float32)
    x[4, 2] = np.nan
    out = model.predict(x, verbose=0)
    assert np.isnan(out[4]).all()
    assert np.isfinite(np.delete(out, 4, axis=0)).all()
    np.testing.assert_array_equal(model.predict(x[4:5], verbose=0), out[4:5])
    with pytest.raises(ValueError, match="x contains NaN or infinity .first in sample 4"):
        model.evaluate(x, np.zeros((70, 3)), verbose=0)
