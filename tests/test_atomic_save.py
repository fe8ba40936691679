"""Where saves write: stale temporaries reclaimed, symlinks followed, folders created, foreign formats refused."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastnn
from fastnn import _atomicfile
from fastnn.layers import Dense

# The folder the fastnn under test was imported from (the source tree, or site-packages when the tests
# run against an installed package), so that child processes import the same fastnn.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


def make_model():
    fastnn.set_seed(5)
    model = fastnn.Sequential([fastnn.layers.Input((3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def assert_same_weights(a, b):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def killed_save(path, method="save"):
    """Run a save in a child process that is killed (SIGKILL) while its temporary file is being written."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {ROOT!r})
        import fastnn
        model = fastnn.Sequential([fastnn.layers.Input((3,)), fastnn.layers.Dense(2)])
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        model.{method}({os.fspath(path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()


def test_killed_saves_leave_no_temporaries_behind(tmp_path):
    """66 killed saves left 1.44 GB of .tmp files; each save of a target reclaims its dead predecessors'."""
    target, weights = tmp_path / "model.fnn", tmp_path / "w.safetensors"
    killed_save(target)
    killed_save(target)
    killed_save(weights, "save_weights")
    assert len(os.listdir(tmp_path)) == 2  # the second killed save reclaimed the first one's temporary
    make_model().save(target)
    remaining = sorted(os.listdir(tmp_path))
    assert remaining[-1] == "model.fnn" and len(remaining) == 2  # the weights file's temporary is not its own
    make_model().save_weights(weights)
    assert sorted(os.listdir(tmp_path)) == ["model.fnn", "w.safetensors"]


def test_only_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    target = tmp_path / "model.fnn"
    live = tmp_path / (_atomicfile.temporary_prefix(target.name, os.getpid()) + "live_tmp.tmp")
    old = tmp_path / (_atomicfile.temporary_prefix(target.name, os.getpid()) + "old_tmp0.tmp")
    other_target = tmp_path / (_atomicfile.temporary_prefix("model.fnn.bak", 999_999_999) + "abcdefgh.tmp")
    foreign = [tmp_path / ".model.fnn.tmp", tmp_path / ".model.fnn.12.abcdefgh.tmp", tmp_path / "model.fnn.tmp"]
    for path in [live, old, other_target, *foreign]:
        path.write_bytes(b"partial")
    day_ago = time.time() - 2 * _atomicfile.STALE_TEMPORARY_SECONDS
    os.utime(old, (day_ago, day_ago))
    make_model().save(target)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in [target, live, other_target, *foreign])


def test_save_follows_a_symlink(tmp_path):
    real = tmp_path / "store" / "model.fnn"
    real.parent.mkdir()
    make_model().save(real)
    link = tmp_path / "latest.fnn"
    link.symlink_to(real)
    model = make_model()
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == os.fspath(real)
    assert_same_weights(fastnn.load_model(real), model)
    assert sorted(os.listdir(real.parent)) == ["model.fnn"]


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.fnn"
    link.symlink_to(tmp_path / "new" / "model.fnn")
    make_model().save_weights(link)
    assert link.is_symlink() and (tmp_path / "new" / "model.fnn").is_file()


def test_save_creates_missing_folders(tmp_path):
    path = tmp_path / "runs" / "a" / "model.fnn"
    model = make_model()
    model.save(path)
    assert_same_weights(fastnn.load_model(path), model)
    model.save_weights(tmp_path / "w" / "weights.safetensors")
    assert (tmp_path / "w" / "weights.safetensors").is_file()


@pytest.mark.parametrize("method", ["save", "save_weights"])
def test_errors_name_the_target_not_the_temporary(tmp_path, method):
    taken = tmp_path / "model.fnn"
    taken.mkdir()  # replacing a directory with the file fails
    with pytest.raises(OSError) as info:
        getattr(make_model(), method)(taken)
    assert ".tmp" not in str(info.value) and os.fspath(taken) in str(info.value)
    assert os.listdir(tmp_path) == ["model.fnn"] and os.listdir(taken) == []
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError) as info:
        getattr(make_model(), method)(blocker / "model.fnn")
    assert ".tmp" not in str(info.value)


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "MODEL.H5", "model.hdf5"])
def test_keras_formats_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match=r"\.fnn"):
        make_model().save(tmp_path / name)
    with pytest.raises(ValueError, match=r"\.safetensors"):
        make_model().save_weights(tmp_path / ("w." + name))
    assert os.listdir(tmp_path) == []


def test_checkpoint_refuses_keras_formats_when_created(tmp_path):
    with pytest.raises(ValueError, match=r"\.fnn"):
        fastnn.callbacks.ModelCheckpoint(os.fspath(tmp_path / "ckpt-{epoch:02d}.keras"))
    with pytest.raises(ValueError, match=r"\.safetensors"):
        fastnn.callbacks.ModelCheckpoint(tmp_path / "ckpt.weights.h5", save_weights_only=True)
