"""Reference statistics of training inputs (fastnn.drift): summaries, KS and PSI, and their place in .fnn files."""
import json
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn.drift import KS_P_VALUE, PSI_THRESHOLD, ReferenceStatistics
from fastnn.layers import Dense
from fastnn.saving import ModelFileError


def _reference(rng, rows=5000):
    """Four numeric features of different shapes and one categorical one."""
    return np.column_stack([rng.normal(size=rows), rng.uniform(-3, 5, rows), rng.exponential(2.0, rows),
                            np.maximum(rng.normal(size=rows), 0.0), rng.integers(0, 4, rows)]).astype(np.float32)


def test_same_distribution_does_not_drift_and_a_shift_does(rng):
    reference = ReferenceStatistics.of([_reference(rng)])
    assert [f.kind for f in reference.features] == ["numeric"] * 4 + ["categorical"]
    same = reference.drift(_reference(np.random.default_rng(1), 1000))
    assert all(d.ks_p_value > KS_P_VALUE and d.psi < PSI_THRESHOLD for d in same)
    shifted = _reference(np.random.default_rng(1), 1000)
    shifted[:, :4] += 0.5
    shifted[:, 4] = np.where(shifted[:, 4] == 0, 1, shifted[:, 4])
    drift = reference.drift(shifted)
    assert all(d.ks_drift and d.psi_drift for d in drift)


def test_ks_matches_scipy_two_sample_test(rng):
    stats = pytest.importorskip("scipy.stats")
    x = rng.normal(size=20000).astype(np.float32)
    reference = ReferenceStatistics.of([x[:, None]])
    for shift in (0.0, 0.05, 0.1, 0.3):
        window = (np.random.default_rng(3).normal(size=800) + shift).astype(np.float32)
        ours = reference.drift(window[:, None])[0].ks_p_value
        theirs = stats.ks_2samp(x, window, method="asymp").pvalue
        assert abs(ours - theirs) < 0.05 + 0.2 * theirs, (shift, ours, theirs)


def test_categorical_values_the_reference_never_had_raise_psi(rng):
    reference = ReferenceStatistics.of([rng.integers(0, 3, (2000, 1)).astype(np.float32)])
    unseen = np.full((500, 1), 7.0, np.float32)
    drift = reference.drift(unseen)[0]
    assert drift.psi > 1.0 and drift.ks_p_value < 1e-6


def test_refuses_non_finite_or_too_little_reference_data():
    with pytest.raises(ValueError, match="NaN"):
        ReferenceStatistics.of([np.array([[0.0], [np.nan]], np.float32)])
    with pytest.raises(ValueError, match="at least 2 rows"):
        ReferenceStatistics.of([np.zeros((1, 3), np.float32)])
    with pytest.raises(ValueError, match="at least 2 rows, got 0"):
        ReferenceStatistics.of([np.zeros((0, 2, 3), np.float32)])


def test_save_refuses_reference_data_without_rows(tmp_path):
    with pytest.raises(ValueError, match="at least 2 rows, got 0"):
        _seed_model().save(tmp_path / "m.fnn", reference_data=np.zeros((0, 8), np.float32))
    assert not list(tmp_path.iterdir())


def _seed_model():
    fastnn.set_seed(0)
    return fastnn.Sequential([Dense(10, activation="relu", input_dim=8), Dense(8, activation="relu"),
                              Dense(1, activation="sigmoid")])


def test_save_with_reference_data_round_trips(tmp_path, rng):
    model, x = _seed_model(), rng.random((300, 8), dtype=np.float32)
    path = tmp_path / "m.fnn"
    model.save(path, reference_data=x)
    loaded = fastnn.load_model(path)
    assert loaded.reference_statistics.to_dict() == ReferenceStatistics.of([x]).to_dict()
    loaded.save(tmp_path / "again.fnn")
    assert fastnn.load_model(tmp_path / "again.fnn").reference_statistics.to_dict() == \
        loaded.reference_statistics.to_dict()
    model_without = _seed_model()
    model_without.save(tmp_path / "plain.fnn")
    assert fastnn.load_model(tmp_path / "plain.fnn").reference_statistics is None
    with pytest.raises(ValueError):
        model.save(tmp_path / "bad.fnn", reference_data=np.zeros((10, 7), np.float32))


def _rewrite_reference(path, out, edit):
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("model.json"))
        tensors = zf.read("weights.safetensors")
    edit(meta["reference_statistics"])
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
        zf.writestr("weights.safetensors", tensors)


@pytest.mark.parametrize("edit", [
    lambda r: r.update(rows=1),
    lambda r: r.update(extra=1),
    lambda r: r["features"].pop(),
    lambda r: r["features"][0].update(kind="other"),
    lambda r: r["features"][0]["quantiles"].reverse(),
    lambda r: r["features"][0]["quantiles"].pop(),
    lambda r: r["features"][0]["frequencies"].__setitem__(0, 5.0),
    lambda r: r["features"][0]["edges"].__setitem__(0, "x"),
    lambda r: r["features"][0].update(edges=[1e308] * 3),
    lambda r: r.update(features=[{"kind": "categorical", "categories": [1, 0], "frequencies": [0.5, 0.5]}] * 8),
    lambda r: r.update(features=[{"kind": "categorical", "categories": list(range(21)),
                                  "frequencies": [1 / 21] * 21}] * 8),
])
def test_malformed_reference_statistics_are_refused(tmp_path, rng, edit):
    path = tmp_path / "m.fnn"
    _seed_model().save(path, reference_data=rng.random((300, 8), dtype=np.float32))
    _rewrite_reference(path, tmp_path / "bad.fnn", edit)
    with pytest.raises(ModelFileError, match="reference_statistics"):
        fastnn.load_model(tmp_path / "bad.fnn")
