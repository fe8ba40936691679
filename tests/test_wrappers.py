"""fastnn.wrappers: scikit-learn's estimator checks, label encoding, cloning, pickling, warm starts, and the
model-selection machinery (Pipeline, cross-validation, grid and randomized search, clone)."""
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.layers import Dense, Input  # noqa: E402
from fastnn.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402


def build(X, y, loss="categorical_crossentropy", activation="softmax", hidden=8, learning_rate=0.01, seed=0):
    """A one-hidden-layer MLP sized from X and y. Seeding here makes every fit repeat exactly, as the
    checks that compare two fits need (the seed is fastnn's random_state)."""
    fastnn.set_seed(seed)
    model = fastnn.Sequential([Input((X.shape[1],)), Dense(hidden, activation="relu"),
                               Dense(1 if y is None else y.shape[1], activation=activation)])
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate), loss=loss)
    return model


REGRESSION = {"loss": "mse", "activation": "linear"}


@parametrize_with_checks(
    [SKLearnClassifier(build, fit_kwargs={"epochs": 5}),
     SKLearnRegressor(build, model_kwargs=REGRESSION, fit_kwargs={"epochs": 5}),
     SKLearnTransformer(build, model_kwargs=REGRESSION, fit_kwargs={"epochs": 5})])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    x, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3, class_sep=2.0,
                               random_state=0)
    return x, y


def compiled_model(n_features, n_outputs, activation="softmax", loss="categorical_crossentropy"):
    fastnn.set_seed(1)
    model = fastnn.Sequential([Input((n_features,)), Dense(16, activation="relu"),
                               Dense(n_outputs, activation=activation)])
    model.compile(optimizer=fastnn.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    return model


@pytest.mark.parametrize("labels", [np.array(["ant", "bee", "cat"]), np.array([3, 5, 10]), np.array([-1, 0, 1])])
def test_labels_of_any_type(blobs, labels):
    x, y = blobs
    clf = SKLearnClassifier(build, fit_kwargs={"epochs": 30}).fit(x, labels[y])
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    proba = clf.predict_proba(x)
    assert proba.shape == (len(x), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    predicted = clf.predict(x)
    assert predicted.dtype == labels.dtype and set(predicted) <= set(labels)
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(x, labels[y]) > 0.9


@pytest.mark.parametrize("loss,activation,width", [
    ("sparse_categorical_crossentropy", "softmax", 2),
    ("binary_crossentropy", "sigmoid", 1),
    (fastnn.losses.BinaryCrossentropy(from_logits=True), "linear", 1),
    (fastnn.losses.CategoricalCrossentropy(from_logits=True), "linear", 2)])
def test_targets_follow_the_models_loss(loss, activation, width):
    x, y = make_classification(n_samples=80, n_features=4, class_sep=2.0, random_state=1)
    labels = np.array(["no", "yes"])[y]
    clf = SKLearnClassifier(compiled_model(4, width, activation, loss), fit_kwargs={"epochs": 30}).fit(x, labels)
    proba = clf.predict_proba(x)
    assert proba.shape == (80, 2) and proba.min() >= 0 and proba.max() <= 1
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert clf.score(x, labels) > 0.85


def test_a_given_model_is_cloned_with_its_weights_and_never_trained(blobs):
    x, y = blobs
    model = compiled_model(6, 3)
    before = model.get_weights()
    clf = SKLearnClassifier(model, fit_kwargs={"epochs": 2})
    clf.fit(x, y)
    assert clf.model_ is not model
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    untrained = SKLearnClassifier(model, fit_kwargs={"epochs": 0}).fit(x, y)
    np.testing.assert_array_equal(untrained.model_.predict(x, verbose=0), model.predict(x, verbose=0))
    assert untrained.model_.compile_config() == model.compile_config()


def test_warm_start_continues_training(blobs):
    x, y = blobs
    cold = SKLearnClassifier(build, fit_kwargs={"epochs": 3})
    cold.fit(x, y)
    first_model = cold.model_
    cold.fit(x, y)
    assert cold.model_ is not first_model and cold.epoch_ == 3
    warm = SKLearnClassifier(build, warm_start=True, fit_kwargs={"epochs": 3})
    warm.fit(x, y)
    first_model, first_loss = warm.model_, warm.history_["loss"][-1]
    warm.fit(x, y)
    assert warm.model_ is first_model and warm.epoch_ == 6 and warm.history_["loss"][-1] < first_loss
    with pytest.raises(ValueError, match="warm_start"):
        warm.fit(x, np.where(y == 2, 7, y))


def test_fit_kwargs_and_fit_arguments(blobs):
    x, y = blobs
    params = {"model_kwargs": {"hidden": 4}, "fit_kwargs": {"epochs": 2, "batch_size": 16}}
    clf = SKLearnClassifier(build, **params)
    clf.fit(x, y, epochs=4)
    assert clf.epoch_ == 4 and clf.fit_kwargs == {"epochs": 2, "batch_size": 16}  # parameters left as given
    assert clf.get_params()["model_kwargs"] == {"hidden": 4}
    assert clf.model_.layers[0].units == 4
    weighted = SKLearnClassifier(build, fit_kwargs={"epochs": 2}).fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 1.0})
    assert weighted.epoch_ == 2
    with pytest.raises(ValueError, match="class_weight"):
        SKLearnClassifier(build).fit(x, y, class_weight={"dog": 2.0})


def test_pickle_and_clone(blobs):
    x, y = blobs
    for estimator in (SKLearnClassifier(compiled_model(6, 3), fit_kwargs={"epochs": 3}),
                      SKLearnClassifier(build, fit_kwargs={"epochs": 3})):
        fitted = estimator.fit(x, y)
        restored = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(restored.predict_proba(x), fitted.predict_proba(x))
        np.testing.assert_array_equal(restored.classes_, fitted.classes_)
        assert pickle.loads(pickle.dumps(clone(estimator))).get_params()["fit_kwargs"] == {"epochs": 3}
        copy = clone(fitted)
        assert not hasattr(copy, "model_") and copy.get_params()["fit_kwargs"] == {"epochs": 3}
        assert copy.fit(x, y).model_ is not fitted.model_ and copy.predict(x).shape == y.shape


def test_errors(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="one class"):
        SKLearnClassifier(build).fit(x, np.zeros(len(x)))
    uncompiled = fastnn.Sequential([Input((6,)), Dense(3, activation="softmax")])
    with pytest.raises(RuntimeError, match="compiled"):
        SKLearnClassifier(uncompiled).fit(x, y)
    with pytest.raises(TypeError, match="callable"):
        SKLearnClassifier("not a model").fit(x, y)
    with pytest.raises(ValueError, match="3 outputs for 2 classes"):
        SKLearnClassifier(compiled_model(6, 3)).fit(x, y % 2)


def test_regressor_and_transformer():
    x, y = make_regression(n_samples=100, n_features=5, n_targets=2, noise=1.0, random_state=0)
    y = y / y.std(axis=0)
    reg = SKLearnRegressor(build, model_kwargs={**REGRESSION, "hidden": 16}, fit_kwargs={"epochs": 60})
    assert reg.fit(x, y).predict(x).shape == (100, 2)
    assert reg.score(x, y) > 0.8
    assert reg.fit(x, y[:, 0]).predict(x).shape == (100,)
    embed = SKLearnTransformer(build, model_kwargs={**REGRESSION, "hidden": 16}, fit_kwargs={"epochs": 5})
    assert embed.fit_transform(x, y).shape == (100, 2)
    assert embed.fit(x).transform(x).shape == (100, 1)  # fit without y builds the model and trains nothing
    assert embed.history_ == {}


def test_model_selection(blobs):
    x, y = blobs
    x = x.copy()
    x[::7, 2] = np.nan
    pipe = make_pipeline(SimpleImputer(), StandardScaler(), SKLearnClassifier(build, fit_kwargs={"epochs": 40}))
    assert cross_val_score(pipe, x, y, cv=3).mean() > 0.7
    grid = GridSearchCV(pipe, {"sklearnclassifier__model_kwargs": [{"hidden": 2}, {"hidden": 16}],
                               "sklearnclassifier__fit_kwargs": [{"epochs": 1}, {"epochs": 20}]}, cv=3)
    grid.fit(x, y)
    assert grid.best_params_ == {"sklearnclassifier__model_kwargs": {"hidden": 16},
                                 "sklearnclassifier__fit_kwargs": {"epochs": 20}}
    assert grid.best_estimator_[-1].model_.layers[0].units == 16
    search = RandomizedSearchCV(SKLearnClassifier(build), n_iter=2, cv=2, random_state=0,
                                param_distributions={"model_kwargs": [{"hidden": 4}, {"hidden": 8}],
                                                     "fit_kwargs": [{"epochs": 2}, {"epochs": 4}]})
    assert search.fit(x[:, [0, 1, 3]], y).best_estimator_.epoch_ in (2, 4)


def test_parallel_search_pickles_a_given_model(blobs):
    x, y = blobs
    grid = GridSearchCV(SKLearnClassifier(compiled_model(6, 3)), {"fit_kwargs": [{"epochs": 1}, {"epochs": 10}]},
                        cv=2, n_jobs=2)
    assert grid.fit(x, y).best_params_ == {"fit_kwargs": {"epochs": 10}}
