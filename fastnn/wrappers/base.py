"""What the three estimators share: the Keras 3 parameters, building or cloning the model, fitting it.
(Models pickle by themselves, as their .fnn files.)"""
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import models

__all__ = ["FastnnEstimator", "clone_model"]


def clone_model(model):
    """A new model with the architecture, compile settings (if any) and current weights of `model`.

    The optimizer starts afresh; `model` itself is left untouched.
    """
    clone = models.clone_model(model)
    if model.compiled:
        clone.compile_from_config(model.compile_config())
    if model.built:
        clone.set_weights(model.get_weights())
    return clone


def is_model(obj):
    """A model instance (not a function that builds one): it trains and predicts itself."""
    return callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None))


class FastnnEstimator(BaseEstimator):
    """Base of the fastnn estimators for scikit-learn.

    Args:
        model: a compiled fastnn model, or a callable ``model(X=X, y=y, **model_kwargs)`` that returns one,
            given the training inputs and the targets as the model will see them. A model given as such
            is cloned at each fit (architecture, compile settings and weights), so every fit starts from
            its weights and the model itself is never trained.
        warm_start: when True, a fit after the first continues training the fitted model instead of
            starting again from `model`.
        model_kwargs: keyword arguments of the `model` callable.
        fit_kwargs: keyword arguments of the model's fit (epochs, batch_size, callbacks, ...); keyword
            arguments given to fit() itself take precedence. verbose defaults to 0.

    Initial weights, shuffling and dropout draw from fastnn's generator, so a fit repeats exactly when
    ``fastnn.set_seed`` is called before it (in the `model` callable, for example): the seed plays the
    part of scikit-learn's random_state. Models pickle as their .fnn files (with optimizer state).

    Attributes:
        model_: the fitted model.
        history_: the fit's history, {log name: [value per epoch]}.
        n_features_in_: the number of input features seen in fit.
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    @property
    def epoch_(self):
        """The number of epochs trained so far."""
        return len(next(iter(getattr(self, "history_", {}).values()), []))

    def _new_model(self, X, y):
        if is_model(self.model):
            model = clone_model(self.model)
        elif callable(self.model):
            model = self.model(X=X, y=y, **(self.model_kwargs or {}))
        else:
            raise TypeError(f"{type(self).__name__}: model must be a compiled fastnn model or a callable that "
                            f"returns one, got {type(self.model).__name__}")
        if not is_model(model) or not getattr(model, "compiled", False) or model.loss is None:
            raise RuntimeError(f"{type(self).__name__}: the model must be compiled with a loss and an optimizer")
        return model

    def _ensure_model(self, X, y):
        """A new model_ for (X, y), unless warm_start keeps the fitted one."""
        if not (self.warm_start and hasattr(self, "model_")):
            self.model_ = self._new_model(X, y)
            self.history_ = {}

    def _fit_model(self, X, y, kwargs):
        """Build (or keep, with warm_start) the model for targets y and train it on (X, targets)."""
        self._ensure_model(X, y)
        targets = self._targets_for_model(y)
        fit_kwargs = self._model_fit_kwargs({"verbose": 0, **(self.fit_kwargs or {}), **kwargs})
        history = self.model_.fit(X, targets, **fit_kwargs).history
        for name, values in history.items():
            self.history_[name] = self.history_.get(name, []) + list(values)
        return self

    def _model_fit_kwargs(self, fit_kwargs):
        """The keyword arguments of the model's fit (the classifier maps class_weight's labels)."""
        return fit_kwargs

    def _targets_for_model(self, y):
        """The targets in the form the fitted model trains on (the regressor and transformer: y itself)."""
        return y

    def _predict_model(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.model_.predict(X, verbose=0)
