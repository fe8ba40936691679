"""fastnn.metrics: stateful metrics vs direct NumPy computations, 'accuracy' resolution, configs, errors."""
import numpy as np
import pytest

from fastnn import losses, metrics


def feed(metric, batches):
    metric.reset_state()
    for batch in batches:
        metric.update_state(*batch)
    return metric.result()


def split(rng, *arrays, parts=3):
    """The arrays cut into uneven batches, so results must not depend on batch boundaries."""
    n = len(arrays[0])
    cuts = np.sort(rng.choice(np.arange(1, n), parts - 1, replace=False))
    return list(zip(*[np.split(a, cuts) for a in arrays]))


def test_mean_weighted(rng):
    values, w = rng.standard_normal(30), rng.uniform(0, 2, 30)
    m = metrics.Mean()
    assert feed(m, split(rng, values)) == pytest.approx(values.mean())
    assert feed(m, split(rng, values, w)) == pytest.approx((values * w).sum() / w.sum())
    m.reset_state()
    assert m.result() == 0.0


def test_binary_accuracy(rng):
    y = rng.integers(0, 2, (40, 1)).astype(np.float32)
    p = rng.random((40, 1)).astype(np.float32)
    w = rng.uniform(0, 1, 40)
    hits = (y[:, 0] == (p[:, 0] > 0.5))
    assert feed(metrics.BinaryAccuracy(), split(rng, y, p)) == pytest.approx(hits.mean())
    assert feed(metrics.BinaryAccuracy(), split(rng, y[:, 0], p)) == pytest.approx(hits.mean())
    assert feed(metrics.BinaryAccuracy(), split(rng, y, p, w)) == pytest.approx((hits * w).sum() / w.sum())
    hits7 = (y[:, 0] == (p[:, 0] > 0.7))
    assert feed(metrics.BinaryAccuracy(threshold=0.7), [(y, p)]) == pytest.approx(hits7.mean())
    # multi-label: per-sample mean over the last axis, then a (weighted) mean over samples
    y2, p2 = rng.integers(0, 2, (10, 3)), rng.random((10, 3))
    per_sample = (y2 == (p2 > 0.5)).mean(-1)
    w2 = rng.uniform(0, 1, 10)
    assert feed(metrics.BinaryAccuracy(), [(y2, p2, w2)]) == pytest.approx((per_sample * w2).sum() / w2.sum())


def test_categorical_sparse_and_top_k(rng):
    labels = rng.integers(0, 6, 50)
    p = rng.random((50, 6))
    onehot = np.eye(6)[labels]
    top1 = p.argmax(-1) == labels
    rank = (p > p[np.arange(50), labels][:, None]).sum(-1)
    w = rng.uniform(0, 1, 50)
    assert feed(metrics.CategoricalAccuracy(), split(rng, onehot, p)) == pytest.approx(top1.mean())
    assert feed(metrics.SparseCategoricalAccuracy(), split(rng, labels, p)) == pytest.approx(top1.mean())
    assert feed(metrics.SparseCategoricalAccuracy(), [(labels[:, None].astype(float), p, w)]) == pytest.approx(
        (top1 * w).sum() / w.sum())
    assert feed(metrics.TopKCategoricalAccuracy(k=3), split(rng, onehot, p)) == pytest.approx((rank < 3).mean())
    assert feed(metrics.SparseTopKCategoricalAccuracy(k=2), [(labels, p)]) == pytest.approx((rank < 2).mean())
    assert feed(metrics.TopKCategoricalAccuracy(k=6), [(onehot, p)]) == 1.0


def test_regression_metrics(rng):
    t, p, w = rng.standard_normal((20, 3)), rng.standard_normal((20, 3)), rng.uniform(0, 1, 20)
    mae, mse = np.abs(t - p).mean(-1), ((t - p) ** 2).mean(-1)
    assert feed(metrics.MeanAbsoluteError(), split(rng, t, p)) == pytest.approx(mae.mean())
    assert feed(metrics.MeanSquaredError(), split(rng, t, p, w)) == pytest.approx((mse * w).sum() / w.sum())
    assert feed(metrics.RootMeanSquaredError(), split(rng, t, p)) == pytest.approx(np.sqrt(mse.mean()))


def confusion(y, p, threshold, w=None):
    w = np.ones(y.shape) if w is None else np.broadcast_to(w.reshape(-1, *([1] * (y.ndim - 1))), y.shape)
    pred, y = p > threshold, y != 0
    return (w * (pred & y)).sum(), (w * (pred & ~y)).sum(), (w * (~pred & y)).sum()


def test_precision_recall(rng):
    y, p, w = rng.integers(0, 2, (60, 2)), rng.random((60, 2)).astype(np.float32), rng.uniform(0, 1, 60)
    tp, fp, fn = confusion(y, p, 0.5, w)
    assert feed(metrics.Precision(), split(rng, y, p, w)) == pytest.approx(tp / (tp + fp))
    assert feed(metrics.Recall(), split(rng, y, p, w)) == pytest.approx(tp / (tp + fn))
    expected = []
    for threshold in (0.8, 0.2, 0.5):
        tp, fp, _ = confusion(y, p, threshold)
        expected.append(tp / (tp + fp))
    assert feed(metrics.Precision(thresholds=[0.8, 0.2, 0.5]), [(y, p)]) == pytest.approx(expected)
    tp, _, fn = confusion(y[:, 1], p[:, 1], 0.3)
    assert feed(metrics.Recall(thresholds=0.3, class_id=1), [(y, p)]) == pytest.approx(tp / (tp + fn))
    # top_k=1: only each row's largest prediction can be positive
    keep = p == p.max(-1, keepdims=True)
    tp, fp, _ = confusion(y, np.where(keep, p, -np.inf), 0.5)
    assert feed(metrics.Precision(top_k=1), [(y, p)]) == pytest.approx(tp / (tp + fp))
    assert feed(metrics.Precision(), [(np.zeros(4), np.zeros(4))]) == 0.0


def auc_at_thresholds(y, p, w, thresholds):
    """ROC AUC from an explicit loop over thresholds (the Keras definition) with the trapezoid rule."""
    tpr, fpr = [], []
    for t in thresholds:
        pred = p > t
        tpr.append((w * (pred & y)).sum() / (w * y).sum())
        fpr.append((w * (pred & ~y)).sum() / (w * ~y).sum())
    tpr, fpr = np.array(tpr), np.array(fpr)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def exact_auc(y, p):
    """The rank-based AUC: P(score of a positive > score of a negative), ties counting half."""
    pos, neg = p[y], p[~y]
    return (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()


def test_auc_roc(rng):
    y = rng.random(2000) < 0.4
    p = np.clip(0.3 * y + 0.7 * rng.random(2000), 0, 1).astype(np.float32)
    w = rng.uniform(0.5, 1.5, 2000)
    thresholds = np.float32([-1e-7] + [(i + 1) / 199 for i in range(198)] + [1 + 1e-7])
    auc = metrics.AUC()
    assert feed(auc, split(rng, y, p, w)) == pytest.approx(auc_at_thresholds(y, p, w, thresholds), rel=1e-9)
    unweighted = feed(auc, split(rng, y, p))
    assert unweighted == pytest.approx(exact_auc(y, p), abs=2e-3)  # the documented approximation
    assert feed(metrics.AUC(num_thresholds=1000), [(y, p)]) == pytest.approx(exact_auc(y, p), abs=5e-4)
    perfect = feed(metrics.AUC(), [(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))])
    assert perfect == pytest.approx(1.0)
    logits = np.log(p.clip(1e-4, 1 - 1e-4) / (1 - p.clip(1e-4, 1 - 1e-4)))
    assert feed(metrics.AUC(from_logits=True), [(y, logits)]) == pytest.approx(unweighted, abs=2e-3)


def test_auc_pr_and_rectangles(rng):
    y = rng.random(500) < 0.3
    p = np.clip(0.4 * y + 0.6 * rng.random(500), 0, 1)
    minoring = feed(metrics.AUC(summation_method="minoring"), [(y, p)])
    majoring = feed(metrics.AUC(summation_method="majoring"), [(y, p)])
    trapezoid = feed(metrics.AUC(), [(y, p)])
    assert minoring <= trapezoid <= majoring and majoring - minoring < 0.02
    # average precision computed directly: mean precision at each positive's rank
    order = np.argsort(-p)
    hits = y[order]
    average_precision = np.sum(np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)) / hits.sum()
    pr = feed(metrics.AUC(curve="PR"), [(y, p)])
    assert pr == pytest.approx(average_precision, abs=0.02)
    assert feed(metrics.AUC(curve="pr", summation_method="majoring"), [(y, p)]) >= pr - 0.02


def test_accuracy_resolution():
    for loss, cls in (("binary_crossentropy", metrics.BinaryAccuracy),
                      (losses.CategoricalCrossentropy(from_logits=True), metrics.CategoricalAccuracy),
                      ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy)):
        for name in ("accuracy", "acc"):
            metric = metrics.get(name, loss=loss)
            assert type(metric) is cls and metric.name == name
    assert type(metrics.get("accuracy", loss="mse", output_shape=(None, 1))) is metrics.BinaryAccuracy
    auto = metrics.get("accuracy", loss="mse", output_shape=(None, 3))
    assert type(auto) is metrics.AutoAccuracy and auto.name == "accuracy"
    p = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert feed(auto, [(np.array([1, 1]), p)]) == 0.5          # integer labels -> sparse
    assert type(auto._resolved) is metrics.SparseCategoricalAccuracy
    auto2 = metrics.get("accuracy")
    assert feed(auto2, [(np.eye(3)[[1, 1]], p)]) == 0.5        # one-hot -> categorical
    assert type(auto2._resolved) is metrics.CategoricalAccuracy


def test_names():
    for name, cls in (("mae", metrics.MeanAbsoluteError), ("mean_squared_error", metrics.MeanSquaredError),
                      ("auc", metrics.AUC), ("precision", metrics.Precision), ("Recall", metrics.Recall),
                      ("binary_accuracy", metrics.BinaryAccuracy), ("top_k_categorical_accuracy",
                                                                     metrics.TopKCategoricalAccuracy)):
        metric = metrics.get(name)
        assert type(metric) is cls and metric.name == name
    assert metrics.AUC().name == "auc" and metrics.Precision().name == "precision"
    assert metrics.BinaryAccuracy().name == "binary_accuracy"
    metric = metrics.Mean(name="loss")
    assert metrics.get(metric) is metric


METRICS = [metrics.Mean(name="loss"), metrics.BinaryAccuracy(threshold=0.3), metrics.CategoricalAccuracy(),
           metrics.SparseCategoricalAccuracy(name="acc"), metrics.TopKCategoricalAccuracy(k=2),
           metrics.SparseTopKCategoricalAccuracy(k=3), metrics.MeanAbsoluteError(), metrics.MeanSquaredError(),
           metrics.RootMeanSquaredError(), metrics.Precision(thresholds=[0.2, 0.6], class_id=1),
           metrics.Recall(top_k=2), metrics.AUC(num_thresholds=50, curve="PR", summation_method="minoring"),
           metrics.AUC(thresholds=[0.3, 0.5, 0.7], from_logits=True), metrics.AutoAccuracy()]


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: type(m).__name__)
def test_config_round_trip(metric):
    config = metric.get_config()
    again = type(metric).from_config(config)
    assert again.get_config() == config and again.name == metric.name
    data = metrics.serialize(metric)
    assert data == {"class_name": type(metric).__name__, "config": config}
    assert metrics.deserialize(data).get_config() == config


def test_errors():
    with pytest.raises(ValueError, match="valid names are:.*auc"):
        metrics.get("aucc")
    with pytest.raises(TypeError):
        metrics.get(3.5)
    with pytest.raises(ValueError, match="must match"):
        metrics.BinaryAccuracy().update_state(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="broadcast"):
        metrics.MeanSquaredError().update_state(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="labels"):
        metrics.SparseCategoricalAccuracy().update_state(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="thresholds"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="multi_label"):
        metrics.AUC(multi_label=True)
    with pytest.raises(ValueError, match="k must"):
        metrics.TopKCategoricalAccuracy(k=0)


def numpy_accuracy_counts(kind, y, p, w, threshold=0.5, k=1):
    """The accuracy counts by the NumPy formulas the metrics used before their C kernel."""
    if kind == "binary":
        hit = (y == (p > np.float32(threshold))).mean(-1)
    elif kind in ("categorical", "sparse_categorical"):
        labels = y if kind.startswith("sparse") else np.argmax(y, -1)
        hit = labels == np.argmax(p, -1)
    else:
        labels = y if kind.startswith("sparse") else np.argmax(y, -1)
        hit = (p > np.take_along_axis(p, labels[..., None], -1)).sum(-1) < k
    w = np.ones(hit.shape) if w is None else w.astype(np.float64)
    return (w * hit).sum(), w.sum()


@pytest.mark.parametrize("kind", ["binary", "categorical", "sparse_categorical", "top_k", "sparse_top_k"])
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_counts_kernel_vs_numpy(kind, weighted, rng):
    from fastnn import ops
    p = rng.integers(0, 4, (40, 5)).astype(np.float32) / 4  # many ties
    p[3, 1] = np.nan
    labels = rng.integers(0, 5, 40)
    y = rng.integers(0, 2, (40, 5)).astype(np.float32) if kind == "binary" else (
        labels if kind.startswith("sparse") else np.eye(5, dtype=np.float32)[labels])
    w = rng.uniform(0, 1, 40).astype(np.float32) if weighted else None
    got = ops.accuracy_counts(kind, y, p, w, threshold=0.5, k=2)
    expected = numpy_accuracy_counts(kind, y, p, w, k=2)
    assert got == pytest.approx(expected, rel=1e-12)


def test_accuracy_counts_shapes_and_errors(rng):
    from fastnn import ops
    y, p = rng.integers(0, 2, 8).astype(np.float32), rng.random((8, 1)).astype(np.float32)
    hits = (y == (p[:, 0] > 0.5)).sum()
    for yt, yp in ((y, p), (y[:, None], p), (y, p[:, 0]), (y[:, None], p[:, 0])):  # Keras's squeeze rules
        assert ops.accuracy_counts("binary", yt, yp) == (hits, 8.0)
    y3, p3 = rng.integers(0, 2, (2, 3)).astype(np.float32), rng.random((2, 3, 1)).astype(np.float32)
    assert ops.accuracy_counts("binary", y3, p3)[1] == 2.0  # (B, T) against (B, T, 1): T values per sample
    with pytest.raises(ValueError, match="must match"):
        ops.accuracy_counts("binary", np.zeros((4, 2), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="one weight per sample"):
        ops.accuracy_counts("binary", y, p, np.ones(7, np.float32))
    # both sparse kinds refuse an out-of-range label as the sparse loss does (Keras's metrics count a miss)
    for kind in ("sparse_categorical", "sparse_top_k"):
        for label in (5, -3):
            with pytest.raises(ValueError, match=f"label {label} at index 1 is out of range for 5 classes"):
                ops.accuracy_counts(kind, np.array([0, label]), np.eye(2, 5, dtype=np.float32), k=2)
    with pytest.raises(ValueError, match="label 7 at index 2 is out of range for 3 classes"):
        metrics.SparseCategoricalAccuracy().update_state(np.array([0, 1, 7]), np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="unknown kind"):
        ops.accuracy_counts("exact", y, p)
    with pytest.raises(ValueError, match="non-empty"):
        ops.accuracy_counts("categorical", np.zeros((2, 0), np.float32), np.zeros((2, 0), np.float32))


def test_accuracy_metrics_weighted_broadcast(rng):
    """(B,) weights for (B, T, C) predictions weigh every step of a sample, as Keras broadcasts them."""
    labels, p = rng.integers(0, 4, (6, 3)), rng.random((6, 3, 4))
    w = rng.uniform(0, 1, 6)
    hit = labels == p.argmax(-1)
    ww = np.broadcast_to(w[:, None], hit.shape)
    assert feed(metrics.SparseCategoricalAccuracy(), [(labels, p, w)]) == pytest.approx((hit * ww).sum() / ww.sum())


def test_metrics_of_several_thresholds_log_one_value_each(capsys):
    """Precision/Recall with a list of thresholds train and evaluate: logs and History hold a float32
    array per epoch (as Keras's do), the progress bar shows its mean."""
    import fastnn
    from fastnn import layers
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = fastnn.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[metrics.Precision(thresholds=[0.3, 0.5]), metrics.Recall(thresholds=[0.3, 0.6, 0.9])])
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=2)
    assert [np.shape(v) for v in history.history["val_recall"]] == [(3,), (3,)]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0]
    positive = y[:, 0] == 1
    expected = [np.sum(positive & (p > t)) / np.sum(positive) for t in (0.3, 0.6, 0.9)]
    np.testing.assert_allclose(logs["recall"], expected, rtol=1e-6)
    assert f"recall: {np.mean(history.history['recall'][-1]):.4f}" in capsys.readouterr().out
