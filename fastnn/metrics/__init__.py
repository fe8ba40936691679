"""Keras-style stateful metrics: update_state(y_true, y_pred, sample_weight=None), result(), reset_state().

The accuracy metrics count each batch in one C pass (fastnn.ops.accuracy_counts); the others are a few
vectorised NumPy operations per batch. State is kept in float64.

Beside them, functions that score whole arrays and return the same numbers as scikit-learn's of the same
name (confusion_matrix, classification_report, precision_recall_fscore_support, roc_curve,
roc_auc_score, precision_recall_curve, auc, log_loss, r2_score, mean_absolute_error, mean_squared_error),
in pure NumPy.
"""
from .. import losses as _losses
from .._registry import Registry as _Registry
from .._registry import canonical as _canonical
from .accuracy import (AutoAccuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                       SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from ._targets import UndefinedMetricWarning
from .base import Mean, MeanMetricWrapper, Metric
from .classification import confusion_matrix, log_loss, precision_recall_fscore_support
from .confusion import AUC, Precision, Recall
from .loss_metrics import (CategoricalHinge, CosineSimilarity, Hinge, KLDivergence, LogCoshError,
                           MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Poisson, SquaredHinge)
from .ranking import auc, precision_recall_curve, roc_auc_score, roc_curve
from .regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError
from .regression_scores import mean_absolute_error, mean_squared_error, r2_score
from .report import classification_report
from .scores import F1Score, FBetaScore, R2Score

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanAbsoluteError", "MeanSquaredError",
           "RootMeanSquaredError", "AutoAccuracy", "Precision", "Recall", "AUC", "F1Score", "FBetaScore", "R2Score",
           "KLDivergence", "Poisson", "LogCoshError", "CosineSimilarity", "MeanSquaredLogarithmicError",
           "MeanAbsolutePercentageError", "Hinge", "SquaredHinge", "CategoricalHinge", "get", "serialize",
           "deserialize",
           "confusion_matrix", "classification_report", "precision_recall_fscore_support", "roc_curve",
           "roc_auc_score", "precision_recall_curve", "log_loss", "r2_score", "mean_absolute_error",
           "mean_squared_error", "auc", "UndefinedMetricWarning"]


_registry = _Registry("metric", Metric)
_registry.add(Mean, "mean")
_registry.add(BinaryAccuracy, "binary_accuracy")
_registry.add(CategoricalAccuracy, "categorical_accuracy")
_registry.add(SparseCategoricalAccuracy, "sparse_categorical_accuracy")
_registry.add(TopKCategoricalAccuracy, "top_k_categorical_accuracy")
_registry.add(SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy")
_registry.add(MeanAbsoluteError, "mae", "mean_absolute_error")
_registry.add(MeanSquaredError, "mse", "mean_squared_error")
_registry.add(RootMeanSquaredError, "root_mean_squared_error")
_registry.add(Precision, "precision")
_registry.add(Recall, "recall")
_registry.add(AUC, "auc")
_registry.add(FBetaScore, "fbeta_score", "f_beta_score")
_registry.add(F1Score, "f1_score")
_registry.add(R2Score, "r2_score")
_registry.add(KLDivergence, "kl_divergence")
_registry.add(Poisson, "poisson")
_registry.add(LogCoshError, "log_cosh_error", "logcosh")
_registry.add(CosineSimilarity, "cosine_similarity")
_registry.add(MeanSquaredLogarithmicError, "msle", "mean_squared_logarithmic_error")
_registry.add(MeanAbsolutePercentageError, "mape", "mean_absolute_percentage_error")
_registry.add(Hinge, "hinge")
_registry.add(SquaredHinge, "squared_hinge")
_registry.add(CategoricalHinge, "categorical_hinge")
_registry.add(AutoAccuracy)

_ACCURACY_BY_LOSS = {_losses.BinaryCrossentropy: BinaryAccuracy, _losses.CategoricalCrossentropy: CategoricalAccuracy,
                     _losses.SparseCategoricalCrossentropy: SparseCategoricalAccuracy}


def get(identifier, loss=None, output_shape=None):
    """A Metric from a name, an instance or a config dict; 'accuracy'/'acc' resolved as Keras does.

    A metric given by name is named as given ('mae' logs as 'mae', 'accuracy' as 'accuracy').
    'accuracy' becomes binary, categorical or sparse categorical accuracy from the loss (binary, categorical
    or sparse categorical cross-entropy); otherwise binary when the output's last axis is 1; otherwise an
    AutoAccuracy that decides from the shapes of the first batch (Keras 3's rules).

    Args:
        identifier: the metric.
        loss: the model's loss (name, Loss or config), used only for 'accuracy'.
        output_shape: the model's output shape, used only for 'accuracy'.

    Returns:
        A Metric.
    """
    if isinstance(identifier, str) and _canonical(identifier) in ("accuracy", "acc"):
        loss_class = type(_losses.get(loss)) if loss is not None else None
        if loss_class in _ACCURACY_BY_LOSS:
            return _ACCURACY_BY_LOSS[loss_class](name=identifier)
        if output_shape is not None and tuple(output_shape)[-1:] == (1,):
            return BinaryAccuracy(name=identifier)
        return AutoAccuracy(name=identifier)
    if isinstance(identifier, str):
        return _registry.lookup(identifier)(name=identifier)
    if callable(identifier) and not isinstance(identifier, (type, Metric)):
        return MeanMetricWrapper(identifier)
    return _registry.get(identifier)


serialize = _registry.serialize
deserialize = _registry.deserialize
