"""`python -m fastnn`: the help, the config + benchmark command and the end-to-end demo."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import __main__ as cli

# The folder the fastnn under test was imported from (the source tree, or site-packages when the tests
# run against an installed package), so that child processes import the same fastnn.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


def run_cli(*args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fastnn", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


def test_help_explains_the_commands():
    result = run_cli("--help", timeout=60)
    assert result.returncode == 0
    assert "demo" in result.stdout and "benchmark" in result.stdout


def test_unknown_command_fails():
    result = run_cli("train-everything", timeout=60)
    assert result.returncode != 0 and "invalid choice" in result.stderr


def test_main_prints_config_then_benchmark_table(monkeypatch, capsys):
    from fastnn import benchmark

    calls = []
    monkeypatch.setattr(benchmark, "main", lambda *a, **k: calls.append(a) or print("TABLE"))
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert re.search(r"fastnn \d+\.\d+", out) and "SIMD path" in out
    assert out.index("SIMD path") < out.index("TABLE") and len(calls) == 1


def test_main_without_benchmark_module_says_so(monkeypatch, capsys):
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)
    assert cli.main([]) == 0
    assert "benchmark table unavailable" in capsys.readouterr().out


@pytest.fixture(scope="module")
def demo_run():
    return run_cli("demo")


def test_demo_succeeds_and_reports(demo_run):
    out = demo_run.stdout
    assert demo_run.returncode == 0, demo_run.stdout[-2000:] + demo_run.stderr[-2000:]
    assert "SIMD path" in out
    assert "Epoch 10/10" in out and "Epoch 20/20" in out
    assert "Total params" in out  # the summary of the digits model
    assert "val_accuracy" in out  # validation_split
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.93
    assert float(re.search(r"CNN test accuracy: ([0-9.]+)", out).group(1)) >= 0.985
    assert "predictions identical" in out and "demo finished OK" in out
    spam_accuracy = float(re.findall(r"test accuracy: ([0-9.]+)", out)[1])
    assert spam_accuracy >= 0.98
    assert "identical on 1115 test messages" in out
    assert re.search(r"ham  \([0-9.]+\)  Hey, are we", out) and re.search(r"SPAM \([0-9.]+\)  WINNER", out)


def test_demo_exits_nonzero_when_reload_differs(monkeypatch, capsys):
    import fastnn

    real_load = fastnn.load_model

    def corrupting_load(path):
        model = real_load(path)
        weights = model.get_weights()
        weights[-1] = weights[-1] + 1.0
        model.set_weights(weights)
        return model

    def tiny_digits(seed):
        model = fastnn.Sequential([fastnn.layers.Dense(3, input_dim=4)])
        return model, np.ones((5, 4), np.float32), np.zeros(5), None, 1.0

    monkeypatch.setattr(fastnn, "load_model", corrupting_load)
    monkeypatch.setattr(cli, "demo_keras_classic", lambda seed: None)
    monkeypatch.setattr(cli, "demo_digits", tiny_digits)
    monkeypatch.setattr(cli, "demo_spam", lambda seed: True)
    monkeypatch.setattr(cli, "demo_digits_cnn", lambda seed: 1.0)
    assert cli.main(["demo"]) == 1
    captured = capsys.readouterr()
    assert "DIFFER" in captured.out and "FAILED" in captured.err


def test_demo_plots_write_the_history_and_confusion_matrix(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    import fastnn

    (x_train, y_train), (x_test, y_test) = fastnn.datasets.load_digits()
    model = fastnn.Sequential([fastnn.layers.Dense(10, activation="softmax", input_dim=64)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, validation_split=0.1, verbose=0)
    cli.write_plots(str(tmp_path / "plots"), model, x_test, y_test, history)
    for name in ("digits_history.png", "digits_confusion_matrix.png"):
        with open(tmp_path / "plots" / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
