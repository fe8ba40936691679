"""fastnn.metrics' scoring functions: hand-computed cases always, and scikit-learn's numbers when it is installed."""
import warnings

import numpy as np
import pytest

from fastnn import metrics
from fastnn.metrics import UndefinedMetricWarning


# ----- hand-computed cases -----------------------------------------------------------------------
def test_confusion_matrix_by_hand():
    y_true = ["cat", "dog", "dog", "bird", "cat", "dog"]
    y_pred = ["cat", "cat", "dog", "bird", "dog", "dog"]
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred),
                                  [[1, 0, 0], [0, 1, 1], [0, 1, 2]])  # bird, cat, dog
    cm = metrics.confusion_matrix(y_true, y_pred, labels=["dog", "cat"])  # bird rows and columns left out
    np.testing.assert_array_equal(cm, [[2, 1], [1, 1]])
    assert cm.dtype == np.int64
    np.testing.assert_allclose(metrics.confusion_matrix(y_true, y_pred, labels=["dog", "cat"], normalize="true"),
                               [[2 / 3, 1 / 3], [0.5, 0.5]])
    np.testing.assert_allclose(metrics.confusion_matrix(y_true, y_pred, labels=["dog", "cat"], normalize="pred"),
                               [[2 / 3, 0.5], [1 / 3, 0.5]])
    np.testing.assert_allclose(metrics.confusion_matrix(y_true, y_pred, labels=["dog", "cat"], normalize="all"),
                               [[0.4, 0.2], [0.2, 0.2]])
    weighted = metrics.confusion_matrix([1, 1, 2], [1, 2, 2], sample_weight=[0.5, 2, 3])
    np.testing.assert_allclose(weighted, [[0.5, 2], [0, 3]])
    # a label that never occurs gives an all-zero row and column, which normalization leaves at zero
    np.testing.assert_array_equal(metrics.confusion_matrix([1, 2], [1, 1], labels=[1, 2, 3], normalize="true"),
                                  [[1, 0, 0], [1, 0, 0], [0, 0, 0]])


def test_precision_recall_fscore_by_hand():
    y_true, y_pred = [0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1]
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    np.testing.assert_allclose(p, [2 / 3, 0, 0])
    np.testing.assert_allclose(r, [1, 0, 0])
    np.testing.assert_allclose(f, [0.8, 0, 0])
    np.testing.assert_array_equal(s, [2, 2, 2])
    macro = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    assert macro == pytest.approx((2 / 9, 1 / 3, 0.8 / 3, None))
    micro = metrics.precision_recall_fscore_support(y_true, y_pred, average="micro")
    assert micro[:3] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    binary = metrics.precision_recall_fscore_support(["n", "y", "y", "y"], ["n", "y", "n", "y"], average="binary",
                                                     pos_label="y")
    assert binary == pytest.approx((1.0, 2 / 3, 0.8, None))
    f_half = metrics.precision_recall_fscore_support([0, 1, 1, 1], [0, 1, 0, 1], beta=0.5, average="binary")[2]
    assert f_half == pytest.approx(1.25 * 1 * (2 / 3) / (0.25 * 1 + 2 / 3))


def test_zero_division():
    # label 2 is never predicted (precision 0/0) and label 3 never occurs (recall 0/0)
    y_true, y_pred = [1, 1, 2], [1, 3, 1]
    with pytest.warns(UndefinedMetricWarning):
        p, r, f, _ = metrics.precision_recall_fscore_support(y_true, y_pred)
    np.testing.assert_allclose(p, [0.5, 0, 0])
    np.testing.assert_allclose(r, [0.5, 0, 0])
    p, r, _, _ = metrics.precision_recall_fscore_support(y_true, y_pred, zero_division=1.0)
    np.testing.assert_allclose(p, [0.5, 1, 0])
    np.testing.assert_allclose(r, [0.5, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p_macro = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=np.nan)[0]
    assert p_macro == pytest.approx(0.25)  # NaN is left out of the mean: (0.5 + 0) / 2


def test_classification_report_by_hand():
    text = metrics.classification_report(["a", "b", "b", "c"], ["a", "b", "a", "c"])
    expected = ("              precision    recall  f1-score   support\n\n"
                "           a       0.50      1.00      0.67         1\n"
                "           b       1.00      0.50      0.67         2\n"
                "           c       1.00      1.00      1.00         1\n\n"
                "    accuracy                           0.75         4\n"
                "   macro avg       0.83      0.83      0.78         4\n"
                "weighted avg       0.88      0.75      0.75         4\n")
    assert text == expected
    report = metrics.classification_report(["a", "b", "b", "c"], ["a", "b", "a", "c"], output_dict=True)
    assert report["accuracy"] == 0.75
    assert report["b"] == {"precision": 1.0, "recall": 0.5, "f1-score": 2 / 3, "support": 2.0}
    partial = metrics.classification_report([0, 1, 2], [0, 1, 1], labels=[0, 1], output_dict=True)
    assert "accuracy" not in partial and partial["micro avg"]["precision"] == pytest.approx(2 / 3)


def test_curves_by_hand():
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    fpr, tpr, thresholds = metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])
    assert metrics.roc_auc_score(y, s) == pytest.approx(0.75)
    assert metrics.roc_auc_score(["no", "no", "yes", "yes"], s) == pytest.approx(0.75)  # larger label positive
    precision, recall, thresholds = metrics.precision_recall_curve(y, s)
    np.testing.assert_allclose(precision, [0.5, 2 / 3, 0.5, 1, 1])
    np.testing.assert_allclose(recall, [1, 1, 0.5, 0.5, 0])
    np.testing.assert_allclose(thresholds, [0.1, 0.35, 0.4, 0.8])
    assert metrics.auc(fpr, tpr) == pytest.approx(0.75) and metrics.auc([1, 0.5, 0], [2, 1, -1]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        metrics.auc([0, 1, 0.5], [1, 1, 1])
    # tied scores form one threshold: half credit in the AUC
    assert metrics.roc_auc_score([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(metrics.roc_auc_score([1, 1], [0.2, 0.3]))


def test_multiclass_auc_by_hand():
    y = [0, 1, 2, 2]
    proba = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.3, 0.5], [0.85, 0.05, 0.1]])
    per_class = metrics.roc_auc_score(y, proba, multi_class="ovr", average=None)
    # class 0: 0.8 beats 0.3 and 0.2, not 0.85; class 2: 0.5 beats both 0.1s, 0.1 ties them (half credit)
    np.testing.assert_allclose(per_class, [2 / 3, 1.0, 0.75])
    assert metrics.roc_auc_score(y, proba, multi_class="ovr") == pytest.approx((2 / 3 + 1 + 0.75) / 3)
    assert metrics.roc_auc_score(y, proba, multi_class="ovr", average="weighted") == \
        pytest.approx((2 / 3 + 1 + 2 * 0.75) / 4)
    with pytest.raises(ValueError, match="multi_class='ovr'"):
        metrics.roc_auc_score(y, proba)


def test_log_loss_and_regression_by_hand():
    assert metrics.log_loss([0, 1], [[0.9, 0.1], [0.2, 0.8]]) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)
    assert metrics.log_loss(["b", "a"], [0.1, 0.8]) == pytest.approx(-(np.log(0.1) + np.log(0.2)) / 2)
    assert metrics.log_loss([0, 1], [[0.9, 0.1], [0.2, 0.8]], normalize=False, sample_weight=[2, 1]) == \
        pytest.approx(-(2 * np.log(0.9) + np.log(0.8)))
    assert np.isfinite(metrics.log_loss([0, 1], [[1.0, 0.0], [1.0, 0.0]]))  # clipped, not inf
    y, p = [3, -0.5, 2, 7], [2.5, 0.0, 2, 8]
    assert metrics.mean_absolute_error(y, p) == pytest.approx(0.5)
    assert metrics.mean_squared_error(y, p) == pytest.approx(0.375)
    assert metrics.r2_score(y, p) == pytest.approx(1 - 1.5 / 29.1875)
    np.testing.assert_allclose(metrics.mean_absolute_error([[0, 1], [2, 3]], [[1, 1], [2, 5]],
                                                           multioutput="raw_values"), [0.5, 1.0])
    assert metrics.r2_score([1, 1], [1, 1]) == 1.0 and metrics.r2_score([1, 1], [1, 2]) == 0.0
    with np.errstate(all="ignore"):
        assert metrics.r2_score([1, 1], [1, 2], force_finite=False) == -np.inf
        assert np.isnan(metrics.r2_score([1, 1], [1, 1], force_finite=False))
    assert np.isnan(metrics.mean_squared_error([1.0, np.nan], [1.0, 2.0]))


def test_errors():
    with pytest.raises(ValueError, match="same number of samples"):
        metrics.confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="continuous"):
        metrics.confusion_matrix([0.5, 1], [0, 1])
    with pytest.raises(ValueError, match="mix string and number"):
        metrics.precision_recall_fscore_support(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="multiclass but average='binary'"):
        metrics.precision_recall_fscore_support([0, 1, 2], [0, 1, 2], average="binary")
    with pytest.raises(ValueError, match="pos_label"):
        metrics.precision_recall_fscore_support(["a", "b"], ["a", "b"], average="binary")
    with pytest.raises(ValueError, match="zero_division"):
        metrics.precision_recall_fscore_support([0, 1], [0, 1], zero_division=0.5)
    with pytest.raises(ValueError, match="at least one of the labels"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(ValueError, match="pos_label"):
        metrics.roc_curve(["a", "b"], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        metrics.roc_curve([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="outside"):
        metrics.log_loss([0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="outputs"):
        metrics.r2_score([[1, 2]], [[1, 2, 3]])


# ----- against scikit-learn ----------------------------------------------------------------------
@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


def assert_same(ours, theirs):
    """Equal structure, equal strings and keys, numbers equal to rounding (NaN equal to NaN)."""
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key])
    elif isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    elif isinstance(theirs, str) and theirs != ours:  # a weighted support prints all its digits
        assert len(ours.splitlines()) == len(theirs.splitlines()) and len(ours.split()) == len(theirs.split())
        for a, b in zip(ours.split(), theirs.split()):
            assert a == b or float(a) == pytest.approx(float(b), rel=1e-12)
    elif theirs is None or isinstance(theirs, str):
        assert ours == theirs
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def _label_cases(rng):
    """(y_true, y_pred, sample_weight) triples: binary, multiclass, strings, ints not from 0, missing classes."""
    cases = []
    for n, k in [(1, 2), (7, 2), (50, 3), (200, 5), (31, 7)]:
        y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)
        cases += [(y_true, y_pred, None), (y_true + 3, y_pred + 3, rng.uniform(0, 2, n)),
                  (np.array(list("abcdefg"))[y_true], np.array(list("abcdefg"))[np.minimum(y_pred, 2)], None)]
    return cases


def test_classification_functions_match_sklearn(skm, rng):
    for y_true, y_pred, weights in _label_cases(rng):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for normalize in (None, "true", "pred", "all"):
                np.testing.assert_allclose(
                    metrics.confusion_matrix(y_true, y_pred, sample_weight=weights, normalize=normalize),
                    skm.confusion_matrix(y_true, y_pred, sample_weight=weights, normalize=normalize))
            labels = np.unique(y_true)[::-1][:3]
            np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, labels=labels),
                                          skm.confusion_matrix(y_true, y_pred, labels=labels))
            binary = len(np.unique(np.r_[y_true, y_pred])) <= 2
            for average in [None, "micro", "macro", "weighted"] + (["binary"] if binary else []):
                for zero_division in ("warn", 0.0, 1.0, np.nan):
                    for beta in (1.0, 0.5, 2.0):
                        kwargs = dict(average=average, zero_division=zero_division, beta=beta,
                                      sample_weight=weights, pos_label=y_true[0])
                        assert_same(metrics.precision_recall_fscore_support(y_true, y_pred, **kwargs),
                                    skm.precision_recall_fscore_support(y_true, y_pred, **kwargs))
                for_labels = dict(labels=labels, average=average if average != "binary" else None)
                assert_same(metrics.precision_recall_fscore_support(y_true, y_pred, **for_labels),
                            skm.precision_recall_fscore_support(y_true, y_pred, **for_labels))
            for kwargs in (dict(sample_weight=weights), dict(digits=4), dict(labels=labels, output_dict=True),
                           dict(labels=labels, target_names=[f"class {c}" for c in labels])):
                assert_same(metrics.classification_report(y_true, y_pred, **kwargs),
                            skm.classification_report(y_true, y_pred, **kwargs))


def test_log_loss_matches_sklearn(skm, rng):
    for n, k in [(10, 2), (60, 4)]:
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)
        proba = rng.dirichlet(np.ones(k), n)
        proba[0] = np.eye(k)[(y[0] + 1) % k]  # a confident mistake exercises the clipping
        weights = rng.uniform(0, 2, n)
        for dtype in (np.float64, np.float32):
            p = proba.astype(dtype)
            for normalize in (True, False):
                assert metrics.log_loss(y, p, normalize=normalize, sample_weight=weights) == pytest.approx(
                    skm.log_loss(y, p, normalize=normalize, sample_weight=weights), rel=1e-6)
        assert metrics.log_loss(y, proba[:, :k], labels=np.arange(k)) == pytest.approx(
            skm.log_loss(y, proba, labels=np.arange(k)))
    y = rng.integers(0, 2, 40)
    p1 = rng.random(40)
    assert metrics.log_loss(y, p1) == pytest.approx(skm.log_loss(y, p1))


def test_ranking_functions_match_sklearn(skm, rng):
    for n in (2, 9, 100, 1000):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        for scores in (rng.standard_normal(n), rng.integers(0, 5, n).astype(float)):  # distinct and tied scores
            for weights in (None, rng.uniform(0, 2, n) * (rng.random(n) > 0.2)):
                for drop in (True, False):
                    for a, b in zip(metrics.roc_curve(y, scores, sample_weight=weights, drop_intermediate=drop),
                                    skm.roc_curve(y, scores, sample_weight=weights, drop_intermediate=drop)):
                        np.testing.assert_allclose(a, b)
                    for a, b in zip(
                            metrics.precision_recall_curve(y, scores, sample_weight=weights, drop_intermediate=drop),
                            skm.precision_recall_curve(y, scores, sample_weight=weights, drop_intermediate=drop)):
                        np.testing.assert_allclose(a, b)
                assert metrics.roc_auc_score(y, scores, sample_weight=weights) == pytest.approx(
                    skm.roc_auc_score(y, scores, sample_weight=weights))
                precision, recall, _ = skm.precision_recall_curve(y, scores, sample_weight=weights)
                assert metrics.auc(recall, precision) == pytest.approx(skm.auc(recall, precision))
        labels = np.array(["neg", "pos"])[y]
        for a, b in zip(metrics.roc_curve(labels, scores, pos_label="neg"),
                        skm.roc_curve(labels, scores, pos_label="neg")):
            np.testing.assert_allclose(a, b)
    y = rng.integers(0, 4, 300)
    proba = rng.dirichlet(np.ones(4), 300)
    weights = rng.uniform(0, 2, 300)
    for average in ("macro", "weighted", "micro", None):
        np.testing.assert_allclose(
            metrics.roc_auc_score(y, proba, multi_class="ovr", average=average, sample_weight=weights),
            skm.roc_auc_score(y, proba, multi_class="ovr", average=average, sample_weight=weights))


def test_regression_functions_match_sklearn(skm, rng):
    for shape in [(2,), (50,), (40, 3)]:
        y, p = rng.standard_normal(shape), rng.standard_normal(shape)
        weights = rng.uniform(0, 2, shape[0])
        multioutputs = ["raw_values", "uniform_average"] + ([rng.uniform(0, 1, shape[1])] if len(shape) > 1 else [])
        for name in ("mean_absolute_error", "mean_squared_error", "r2_score"):
            for multioutput in multioutputs + (["variance_weighted"] if name == "r2_score" else []):
                for sw in (None, weights):
                    np.testing.assert_allclose(
                        getattr(metrics, name)(y, p, sample_weight=sw, multioutput=multioutput),
                        getattr(skm, name)(y, p, sample_weight=sw, multioutput=multioutput))
    constant = np.ones((5, 2))
    for force_finite in (True, False):
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(
                metrics.r2_score(constant, constant + [[0, 1]], multioutput="raw_values", force_finite=force_finite),
                skm.r2_score(constant, constant + [[0, 1]], multioutput="raw_values", force_finite=force_finite))
