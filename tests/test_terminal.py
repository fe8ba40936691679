"""Output on real terminals: streams that cannot encode Unicode, narrow terminals, Keras's callback messages."""
import io
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn
from fastnn import callbacks
from fastnn.layers import Dense
from fastnn.progress import ProgressBar

# The folder the fastnn under test was imported from (the source tree, or site-packages when the tests
# run against an installed package), so that child processes import the same fastnn.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


class Terminal(io.StringIO):
    """A stream that says it is a terminal, with the encoding a console reports."""

    def __init__(self, encoding="utf-8"):
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self):
        return self._encoding

    def isatty(self):
        return True


def ascii_stdout(monkeypatch):
    """Make sys.stdout an ASCII-only text stream (as PYTHONIOENCODING=ascii does); returns its byte buffer."""
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii", write_through=True))
    return raw


def make_model():
    fastnn.set_seed(1)
    model = fastnn.Sequential([fastnn.layers.Input((3,)), Dense(4, activation="relu"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.random((40, 3), dtype=np.float32), rng.random((40, 1), dtype=np.float32)


# ------------------------------------------------------------------------------------------------ ASCII

def test_fit_and_summary_on_an_ascii_stdout(monkeypatch):
    """fit(verbose=1) and summary() crashed with UnicodeEncodeError when stdout could not encode the bar."""
    raw = ascii_stdout(monkeypatch)
    model = make_model()
    model.fit(*data(), epochs=2, batch_size=8, verbose=1)
    model.summary()
    model.evaluate(*data(), verbose=1)
    text = raw.getvalue().decode("ascii")
    assert "5/5 ====================" in text
    assert re.search(r"^\| dense(_\d+)? \(Dense\) +\| \(None, 4\) +\| +16 \|$", text, re.M)
    assert re.search(r"^\+[-+]+\+$", text, re.M)
    assert "Total params: 21" in text


def test_ascii_fallback_in_a_process_whose_stdout_is_ascii():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {ROOT!r})
        import numpy as np, fastnn
        model = fastnn.Sequential([fastnn.layers.Input((2,)), fastnn.layers.Dense(1, name="d\\u00e9nse")])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((8, 2), np.float32), np.ones((8, 1), np.float32), epochs=1, verbose=1)
        model.summary()
    """)
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert b"1/1 ====" in result.stdout and b"| d?nse (Dense)" in result.stdout


def test_unicode_terminals_keep_the_box_characters(capsys):
    make_model().summary()
    assert "┏" in capsys.readouterr().out
    stream = Terminal()
    bar = ProgressBar(4, file=stream)
    bar.update(4, [("loss", 0.5)], finalize=True)
    assert "4/4 ━━━━" in stream.getvalue()


def test_latin1_console_gets_ascii_bars_and_replaced_names():
    stream = Terminal("latin-1")
    bar = ProgressBar(2, file=stream)
    bar.update(2, [("naïve_ℓoss", 0.5)], finalize=True)
    line = stream.getvalue()
    line.encode("latin-1")
    assert "2/2 ====" in line and "naïve_?oss: 0.5000" in line


# ------------------------------------------------------------------------------------------------ width

def redraws(stream):
    """The lines a dynamic bar drew, one per carriage return, without trailing padding."""
    return [part.rstrip(" \n") for part in stream.getvalue().split("\r") if part]


def test_progress_bar_fits_an_80_column_terminal(monkeypatch):
    """Every redraw wider than the terminal wrapped, so the bar flooded the screen instead of redrawing."""
    monkeypatch.setenv("COLUMNS", "80")
    stream = Terminal()
    bar = ProgressBar(1000, file=stream, interval=0)
    values = [(f"metric_{i}", 0.25 * i) for i in range(8)]
    for step in (1, 500, 999):
        bar.update(step, values)
    bar.update(1000, values, finalize=True)
    lines = redraws(stream)
    assert len(lines) == 4
    assert all(len(line) < 80 for line in lines[:-1]), [len(line) for line in lines]
    assert lines[0].startswith("   1/1000 ") and "metric_0: 0.0000" in lines[0]
    assert "metric_7: 1.7500" in lines[-1]  # the last line keeps every value: it is never redrawn


@pytest.mark.parametrize("columns", [20, 40, 200])
def test_progress_bar_width_follows_the_terminal(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = Terminal()
    bar = ProgressBar(10, file=stream, interval=0)
    bar.update(5, [("loss", 0.5), ("accuracy", 0.25)])
    line = redraws(stream)[0]
    assert len(line) < columns
    if columns == 200:
        assert line.startswith(" 5/10 ━━━━━━━━━━────────── ") and line.endswith("accuracy: 0.2500")


def test_output_that_is_not_a_terminal_is_never_cut(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = io.StringIO()
    bar = ProgressBar(3, file=stream)
    bar.update(3, [(f"metric_{i}", 1.0) for i in range(6)], finalize=True)
    assert stream.getvalue().count("metric_") == 6


# ------------------------------------------------------------------------------------ callback messages

def fit_with(callback, epochs=3, losses=None):
    model = make_model()
    x, y = data()
    if losses is not None:  # drive the monitored value directly
        values = iter(losses)
        model.fit(x, y, epochs=epochs, verbose=0, callbacks=[callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: logs.update(loss=next(values))), callback])
    else:
        model.fit(x, y, epochs=epochs, verbose=0, callbacks=[callback])
    return model


def test_model_checkpoint_messages_match_keras(tmp_path, capsys):
    path = os.fspath(tmp_path / "best.fnn")
    fit_with(callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True, verbose=1),
             losses=[0.693147182, 0.5, 0.75])
    assert capsys.readouterr().out.splitlines() == [
        f"Epoch 1: loss improved from inf to 0.69315, saving model to {path}",
        f"Epoch 1: finished saving model to {path}",
        f"Epoch 2: loss improved from 0.69315 to 0.50000, saving model to {path}",
        f"Epoch 2: finished saving model to {path}",
        "Epoch 3: loss did not improve from 0.50000",
    ]
    fit_with(callbacks.ModelCheckpoint(path, monitor="loss", mode="max", save_best_only=True, verbose=1),
             epochs=1, losses=[0.1])
    fit_with(callbacks.ModelCheckpoint(path, verbose=1), epochs=1)
    assert capsys.readouterr().out.splitlines() == [
        f"Epoch 1: loss improved from -inf to 0.10000, saving model to {path}",
        f"Epoch 1: finished saving model to {path}",
        f"Epoch 1: saving model to {path}",
        f"Epoch 1: finished saving model to {path}",
    ]


def test_checkpoint_names_the_best_so_far_from_the_threshold(tmp_path, capsys):
    checkpoint = callbacks.ModelCheckpoint(os.fspath(tmp_path / "m.fnn"), monitor="loss", save_best_only=True,
                                           verbose=1, initial_value_threshold=0.4)
    fit_with(checkpoint, epochs=1, losses=[0.5])
    assert capsys.readouterr().out == "Epoch 1: loss did not improve from 0.40000\n"


def test_reduce_lr_message_shows_the_rate_without_float_noise(capsys):
    callback = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.7, patience=1, verbose=1)
    model = fit_with(callback, epochs=3, losses=[1.0, 1.0, 1.0])
    assert capsys.readouterr().out.splitlines() == [  # 0.01 * 0.7 is 0.006999999999999999 in binary
        "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.007.",
        "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.0049.",
    ]
    assert model.optimizer.learning_rate == pytest.approx(0.0049)


def test_learning_rate_scheduler_message(capsys):
    fit_with(callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.7, verbose=1), epochs=2)
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 1: LearningRateScheduler setting learning rate to 0.007.",
        "Epoch 2: LearningRateScheduler setting learning rate to 0.0049.",
    ]


def test_early_stopping_messages_match_keras(capsys):
    fit_with(callbacks.EarlyStopping(monitor="loss", patience=1, verbose=1, restore_best_weights=True),
             epochs=5, losses=[0.5, 0.6, 0.7, 0.8, 0.9])
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 2: early stopping",
        "Restoring model weights from the end of the best epoch: 1.",
    ]


def test_callback_messages_survive_an_ascii_stdout(monkeypatch, tmp_path):
    raw = ascii_stdout(monkeypatch)
    path = os.fspath(tmp_path / "modèle.fnn")
    fit_with(callbacks.ModelCheckpoint(path, verbose=1), epochs=1)
    assert raw.getvalue().decode("ascii").splitlines()[0] == f"Epoch 1: saving model to {path.replace('è', '?')}"
