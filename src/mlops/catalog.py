"""What the config is checked against: estimators and metrics by task.

Plain names only (no sklearn, no MLflow): the config is checked at load, by every command,
and `mlops --help` must stay fast. `mlops.train` builds estimators from this table and
`mlops.evaluate` computes these metrics.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "regression"]

#: Estimators by task: the name used in `params.yaml` (`model.estimator`) -> (module, class).
ESTIMATORS: dict[Task, dict[str, tuple[str, str]]] = {
    "classification": {
        "logistic_regression": ("sklearn.linear_model", "LogisticRegression"),
        "random_forest": ("sklearn.ensemble", "RandomForestClassifier"),
        "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
        "extra_trees": ("sklearn.ensemble", "ExtraTreesClassifier"),
    },
    "regression": {
        "ridge": ("sklearn.linear_model", "Ridge"),
        "random_forest": ("sklearn.ensemble", "RandomForestRegressor"),
        "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingRegressor"),
        "extra_trees": ("sklearn.ensemble", "ExtraTreesRegressor"),
    },
}
#: Every estimator name of any task: how `model.params` sections are told from hyperparameters.
ESTIMATOR_NAMES = frozenset(name for table in ESTIMATORS.values() for name in table)

CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "average_precision",
    "log_loss",
    "minority_precision",
    "minority_recall",
)
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
#: Metrics where lower is better (the rest: higher is better).
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})

#: Drift compares the champion's outputs as columns named `prediction...` (not in the data).
PREDICTION_PREFIX = "prediction"


def metric_names(task: Task) -> tuple[str, ...]:
    """The metrics computed for `task`."""
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def estimator_names(task: Task) -> tuple[str, ...]:
    """The estimators offered for `task`, in table order."""
    return tuple(ESTIMATORS[task])
