"""SKLearnClassifier, SKLearnRegressor and SKLearnTransformer: fastnn models as scikit-learn estimators."""
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .. import activations, losses
from .base import FastnnEstimator

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


class SKLearnClassifier(ClassifierMixin, FastnnEstimator):
    """A fastnn classifier as a scikit-learn estimator (Keras 3's keras.wrappers.SKLearnClassifier).

    Labels may be of any type (strings, ints not starting at 0, ...): `classes_` holds them sorted. The
    `model` callable receives them one-hot encoded, y of shape (samples, classes), as in Keras. The
    model then trains on the form its loss takes: class indices for sparse categorical cross-entropy,
    the index of the second class as a (samples, 1) column for a one-unit output (binary), one-hot
    rows otherwise. Outputs from logits (a loss with from_logits=True) go through sigmoid or softmax in
    predict_proba. A class_weight given to fit names classes by their labels.

    Args:
        model, warm_start, model_kwargs, fit_kwargs: see FastnnEstimator.

    Attributes:
        classes_: the sorted class labels.
        model_, history_, n_features_in_: see FastnnEstimator.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # the score is the model's, and the model is the user's
        return tags

    def fit(self, X, y, **kwargs):
        """Train on X (samples, features) and class labels y (samples,); kwargs go to the model's fit."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        classes, indices = np.unique(y, return_inverse=True)
        if self.warm_start and hasattr(self, "model_") and not np.array_equal(classes, self.classes_):
            raise ValueError(f"SKLearnClassifier: warm_start continues a model trained on the classes "
                             f"{list(self.classes_)}, but y has {list(classes)}")
        if len(classes) < 2:
            raise ValueError(f"SKLearnClassifier: a classifier needs at least two classes; y has only one "
                             f"class: {classes[0]!r}")
        self.classes_ = classes
        one_hot = np.eye(len(classes), dtype=np.float32)[indices]
        return self._fit_model(X, one_hot, kwargs)

    def _model_fit_kwargs(self, fit_kwargs):
        class_weight = fit_kwargs.get("class_weight")
        if class_weight is None:
            return fit_kwargs
        unknown = set(class_weight) - set(self.classes_.tolist())
        if unknown:
            raise ValueError(f"SKLearnClassifier: class_weight names labels {sorted(unknown, key=str)} that are "
                             f"not among the classes {list(self.classes_)}")
        by_index = {int(np.searchsorted(self.classes_, label)): weight for label, weight in class_weight.items()}
        return {**fit_kwargs, "class_weight": by_index}

    def _targets_for_model(self, one_hot):
        loss = losses.get(self.model_.loss)
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return one_hot.argmax(axis=1)
        width = self._output_width()
        if width == 1 and len(self.classes_) == 2:
            return one_hot[:, 1:]
        if width != len(self.classes_):
            raise ValueError(f"SKLearnClassifier: the model has {width} outputs for {len(self.classes_)} classes; "
                             f"give it one output per class (or one sigmoid output for two classes)")
        return one_hot

    def _output_width(self):
        return self.model_.predict(np.zeros((1, self.n_features_in_), np.float32), verbose=0).shape[-1]

    def predict_proba(self, X):
        """Class probabilities, (samples, classes) in the order of classes_."""
        outputs = self._predict_model(X)
        if getattr(self.model_.loss, "from_logits", False):
            outputs = activations.sigmoid(outputs) if outputs.shape[-1] == 1 else activations.softmax(outputs)
        proba = outputs.astype(np.float64)
        if proba.shape[-1] == 1:
            proba = np.concatenate([1 - proba, proba], axis=1)
        return proba

    def predict(self, X):
        """The most probable class of each sample, as one of classes_."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class SKLearnRegressor(RegressorMixin, FastnnEstimator):
    """A fastnn regressor as a scikit-learn estimator (Keras 3's keras.wrappers.SKLearnRegressor).

    Targets may have one output, y (samples,), or several, y (samples, outputs); the `model` callable
    and the model see them as float32 (samples, outputs), and predict returns the shape y had.

    Args:
        model, warm_start, model_kwargs, fit_kwargs: see FastnnEstimator.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = True  # the score is the model's, and the model is the user's
        return tags

    def fit(self, X, y, **kwargs):
        """Train on X (samples, features) and y (samples,) or (samples, outputs); kwargs go to the model's fit."""
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True)
        self._one_output = y.ndim == 1
        return self._fit_model(X, np.asarray(y, np.float32).reshape(len(y), -1), kwargs)

    def predict(self, X):
        """Predictions as float64, (samples,) when y was 1-D in fit, else (samples, outputs)."""
        outputs = self._predict_model(X).astype(np.float64)
        return outputs[:, 0] if self._one_output and outputs.shape[-1] == 1 else outputs


class SKLearnTransformer(TransformerMixin, FastnnEstimator):
    """A fastnn model as a scikit-learn transformer (Keras 3's keras.wrappers.SKLearnTransformer):
    transform(X) is the model's output, such as an embedding.

    fit(X, y) trains the model on (X, y). fit(X) without y (as a Pipeline does in unsupervised work)
    only builds it: a model given is cloned with its weights, and a `model` callable is called with
    y=None; so a pre-trained model, or a callable that trains one (say, an autoencoder, returning its
    encoder), serves as it is.

    Args:
        model, warm_start, model_kwargs, fit_kwargs: see FastnnEstimator.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # fastnn computes in float32
        return tags

    def fit(self, X, y=None, **kwargs):
        """Build the model for X (samples, features) and train it on (X, y) when y is given."""
        if y is None:
            X = validate_data(self, X, dtype=np.float32)
            self._ensure_model(X, None)
            return self
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True)
        return self._fit_model(X, np.asarray(y, np.float32).reshape(len(y), -1), kwargs)

    def transform(self, X):
        """The model's outputs for X, float32 (samples, outputs)."""
        return self._predict_model(X)
