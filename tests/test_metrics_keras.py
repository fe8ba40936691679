"""F1Score/FBetaScore, R2Score and the metric forms of Keras's further losses: float64 references
written here from the definitions, batches accumulated, weights, configs, names in compile, saving."""
import numpy as np
import pytest

import fastnn
from fastnn import metrics

EPS = 1e-7


def batches(metric, t, p, w=None, cut=13):
    metric.update_state(t[:cut], p[:cut], None if w is None else w[:cut])
    metric.update_state(t[cut:], p[cut:], None if w is None else w[cut:])
    return metric.result()


def fbeta_reference(t, p, w, average, beta, threshold):
    """Counts class by class with explicit loops, then Keras's combination with its epsilon."""
    rows, classes = t.shape
    positive = p > threshold if threshold is not None else \
        (p == p.max(axis=1, keepdims=True)) & (np.abs(p) > 1e-9)
    tp, fp, fn, support = (np.zeros(classes) for _ in range(4))
    for r in range(rows):
        for c in range(classes):
            tp[c] += w[r] * positive[r, c] * t[r, c]
            fp[c] += w[r] * positive[r, c] * (1 - t[r, c])
            fn[c] += w[r] * (1 - positive[r, c]) * t[r, c]
            support[c] += w[r] * t[r, c]
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision, recall = tp / (tp + fp + EPS), tp / (tp + fn + EPS)
    score = (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall + EPS)
    if average == "weighted":
        return np.sum(score * support / (support.sum() + EPS))
    return score if average is None else np.mean(score)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_fbeta_against_counts(average, threshold, beta, rng):
    t = np.eye(4)[rng.integers(0, 4, 40)]
    p = rng.random((40, 4))
    p[3] = [0.2, 0.7, 0.7, 0.1]  # a tie: both count as predicted without a threshold
    w = rng.uniform(0.1, 2, 40)
    got = batches(metrics.FBetaScore(average, beta, threshold), t, p, w)
    np.testing.assert_allclose(got, fbeta_reference(t, p, w, average, beta, threshold), rtol=1e-12)
    if beta == 1.0:
        np.testing.assert_array_equal(got, batches(metrics.F1Score(average, threshold), t, p, w))
    unweighted = batches(metrics.FBetaScore(average, beta, threshold), t, p)
    np.testing.assert_allclose(unweighted, fbeta_reference(t, p, np.ones(40), average, beta, threshold), rtol=1e-12)


def test_f1_matches_precision_and_recall_harmonic_mean(rng):
    t = (rng.random((50, 1)) > 0.5).astype(np.float32)
    p = rng.random((50, 1)).astype(np.float32)
    f1 = batches(metrics.F1Score(threshold=0.5), t, p)[0]
    precision, recall = metrics.Precision(), metrics.Recall()
    for m in (precision, recall):
        m.update_state(t, p)
    pr, rc = precision.result(), recall.result()
    assert f1 == pytest.approx(2 * pr * rc / (pr + rc), rel=1e-6)


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
@pytest.mark.parametrize("weighted", [False, True])
def test_r2_against_the_whole_array_score(aggregation, weighted, rng):
    t = rng.normal(size=(60, 3)) * [1, 3, 0.5]
    p = t + rng.normal(size=(60, 3))
    w = rng.uniform(0.1, 2, 60) if weighted else None
    got = batches(metrics.R2Score(aggregation), t, p, w)
    multioutput = {None: "raw_values", "uniform_average": "uniform_average",
                   "variance_weighted_average": "variance_weighted"}[aggregation]
    np.testing.assert_allclose(got, metrics.r2_score(t, p, sample_weight=w, multioutput=multioutput), rtol=1e-10)
    adjusted = batches(metrics.R2Score("uniform_average", num_regressors=4), t, p, w)
    plain = batches(metrics.R2Score("uniform_average"), t, p, w)
    assert adjusted == pytest.approx(1 - (1 - plain) * (180 - 1) / (180 - 4 - 1))


def test_r2_edge_cases(rng):
    m = metrics.R2Score()
    m.update_state(np.ones((4, 1)), rng.normal(size=(4, 1)))  # constant targets: -inf becomes 0, as Keras
    assert m.result() == 0.0
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert np.isfinite(batches(metrics.R2Score(num_regressors=50), rng.normal(size=(20, 1)),
                                   rng.normal(size=(20, 1))))
    one_d = metrics.R2Score()
    one_d.update_state(np.arange(5.0), np.arange(5.0) + 0.1)
    assert one_d.result() == pytest.approx(1 - 5 * 0.01 / 10)


LOSS_METRICS = {
    "kl_divergence": (metrics.KLDivergence,
                      lambda t, p: np.sum(np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1)), -1)),
    "poisson": (metrics.Poisson, lambda t, p: np.mean(p - t * np.log(p + EPS), -1)),
    "logcosh": (metrics.LogCoshError, lambda t, p: np.mean(np.log(np.cosh(p - t)), -1)),
    "cosine_similarity": (metrics.CosineSimilarity, lambda t, p: np.sum(t * p, -1) / np.sqrt(
        np.sum(t * t, -1) * np.sum(p * p, -1))),
    "mean_squared_logarithmic_error": (metrics.MeanSquaredLogarithmicError,
                                       lambda t, p: np.mean((np.log1p(np.maximum(p, EPS)) - np.log1p(t)) ** 2, -1)),
    "mean_absolute_percentage_error": (metrics.MeanAbsolutePercentageError,
                                       lambda t, p: 100 * np.mean(np.abs((t - p) / t), -1)),
    "hinge": (metrics.Hinge, lambda t, p: np.mean(np.maximum(1 - (2 * t - 1) * p, 0), -1)),
    "squared_hinge": (metrics.SquaredHinge, lambda t, p: np.mean(np.maximum(1 - (2 * t - 1) * p, 0) ** 2, -1)),
    "categorical_hinge": (metrics.CategoricalHinge,
                          lambda t, p: np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0)),
}


@pytest.mark.parametrize("name", sorted(LOSS_METRICS))
def test_loss_metrics_are_weighted_means_of_the_losses(name, rng):
    cls, per_sample = LOSS_METRICS[name]
    p = rng.normal(size=(30, 4))
    if name in ("hinge", "squared_hinge"):
        t = rng.integers(0, 2, (30, 4)).astype(float)
    elif name == "categorical_hinge":
        t = np.eye(4)[rng.integers(0, 4, 30)]
    else:
        t, p = rng.uniform(0.1, 1, (30, 4)), rng.uniform(0.1, 1, (30, 4)) * (3 if name == "poisson" else 1)
    w = rng.uniform(0.1, 2, 30)
    values = per_sample(t, p)
    assert batches(cls(), t, p, w) == pytest.approx(np.sum(values * w) / np.sum(w), rel=1e-10)
    assert cls().name == name
    assert type(metrics.get(name)) is cls
    if name not in ("kl_divergence", "cosine_similarity", "categorical_hinge"):
        # the metric and the loss agree (the loss in float32)
        loss = fastnn.losses.get(name if name != "logcosh" else "log_cosh")
        assert batches(cls(), t, p) == pytest.approx(loss(t.astype(np.float32), p.astype(np.float32)), rel=1e-5)


def test_aliases_configs_and_errors():
    for alias, cls in [("f1_score", metrics.F1Score), ("fbeta_score", metrics.FBetaScore),
                       ("f_beta_score", metrics.FBetaScore), ("r2_score", metrics.R2Score),
                       ("log_cosh_error", metrics.LogCoshError), ("msle", metrics.MeanSquaredLogarithmicError),
                       ("mape", metrics.MeanAbsolutePercentageError), ("KLDivergence", metrics.KLDivergence)]:
        assert type(metrics.get(alias)) is cls
    for metric in (metrics.FBetaScore("weighted", 0.5, 0.3, name="fb"), metrics.F1Score("macro"),
                   metrics.R2Score("variance_weighted_average", 2), metrics.CosineSimilarity(), metrics.Hinge()):
        again = metrics.deserialize(metrics.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    assert metrics.F1Score().get_config() == {"name": "f1_score", "dtype": "float32", "average": None,
                                              "threshold": None}
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match="beta"):
        metrics.FBetaScore(beta=0.0)
    with pytest.raises(TypeError, match="beta must be a number"):
        metrics.FBetaScore(beta="1")
    with pytest.raises(ValueError, match="threshold"):
        metrics.F1Score(threshold=1.5)
    with pytest.raises(ValueError, match="class_aggregation"):
        metrics.R2Score("mean")
    with pytest.raises(TypeError, match="num_regressors"):
        metrics.R2Score(num_regressors=1.5)
    with pytest.raises(ValueError, match="num_regressors"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match="axis"):
        metrics.CosineSimilarity(axis=0)
    f1 = metrics.F1Score()
    with pytest.raises(ValueError, match="2-D"):
        f1.update_state(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    f1.update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="seen 3 classes"):
        f1.update_state(np.zeros((2, 4)), np.zeros((2, 4)))
    f1.reset_state()
    f1.update_state(np.zeros((2, 4)), np.zeros((2, 4)))


def test_compiled_by_name_trains_saves_and_loads(tmp_path, rng):
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = np.eye(3)[np.argmax(x[:, :3], 1)].astype(np.float32)
    fastnn.set_seed(2)
    model = fastnn.Sequential([fastnn.Input((5,)), fastnn.layers.Dense(3, activation="softmax")])
    names = ["kl_divergence", "poisson", "log_cosh_error", "cosine_similarity", "msle", "mape", "hinge",
             "squared_hinge", "categorical_hinge", "r2_score"]
    model.compile(optimizer="nadam", loss="categorical_crossentropy",
                  metrics=names + [metrics.F1Score(average="macro"), metrics.FBetaScore("weighted", beta=2.0)])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert set(names + ["f1_score", "fbeta_score"]) <= set(history.history)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    f1 = metrics.F1Score(average="macro")
    f1.update_state(y, model.predict(x, verbose=0))
    assert logs["f1_score"] == pytest.approx(f1.result(), rel=1e-6)
    model.save(tmp_path / "m.fnn")
    loaded = fastnn.load_model(tmp_path / "m.fnn")
    again = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert again == pytest.approx(logs)
    # per-class results (Keras's default average=None) cannot be logged as numbers: refused at compile
    for per_class in ("f1_score", metrics.R2Score(class_aggregation=None)):
        with pytest.raises(ValueError, match="one value per class"):
            model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[per_class])
