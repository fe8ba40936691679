"""scikit-learn estimators around fastnn models, with Keras 3's keras.wrappers signature, so that Pipeline,
cross-validation, GridSearchCV, RandomizedSearchCV and clone drive fastnn models.

Needs scikit-learn (>= 1.6): ``pip install fastnn[sklearn]``.

Example:
    >>> def build(X, y, hidden=16):
    ...     model = fastnn.Sequential([Input((X.shape[1],)), Dense(hidden, activation="relu"),
    ...                                Dense(y.shape[1], activation="softmax")])
    ...     model.compile(optimizer="adam", loss="categorical_crossentropy")
    ...     return model
    >>> clf = SKLearnClassifier(build, model_kwargs={"hidden": 32}, fit_kwargs={"epochs": 20})
    >>> GridSearchCV(clf, {"model_kwargs": [{"hidden": 8}, {"hidden": 32}]}).fit(X, y)
"""
try:
    import sklearn  # noqa: F401
except ImportError:
    raise ImportError("fastnn.wrappers needs scikit-learn: pip install fastnn[sklearn]") from None

from .estimators import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]
