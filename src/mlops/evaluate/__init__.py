"""Evaluate capability: `score_model()` (pure), plots, and `run_evaluation()` (stage)."""

from __future__ import annotations

from mlops.catalog import CLASSIFICATION_METRICS, LOWER_IS_BETTER, REGRESSION_METRICS, metric_names
from mlops.evaluate._cv import CvScores, FoldCallback, cross_validate, cv_splits, summarise
from mlops.evaluate._plots import write_plots
from mlops.evaluate._scoring import (
    RARE_CLASS_SHARE,
    Scores,
    assess_model,
    class_shares,
    default_primary,
    minority_class,
    score_model,
)
from mlops.evaluate._stage import (
    BALANCED_GATES,
    IMBALANCE_AWARE_PRIMARY,
    EvaluationResult,
    imbalance_warning,
    read_run_file,
    run_evaluation,
    warn_if_imbalanced,
)

__all__ = [
    "BALANCED_GATES",
    "CLASSIFICATION_METRICS",
    "IMBALANCE_AWARE_PRIMARY",
    "LOWER_IS_BETTER",
    "RARE_CLASS_SHARE",
    "REGRESSION_METRICS",
    "CvScores",
    "EvaluationResult",
    "FoldCallback",
    "Scores",
    "assess_model",
    "class_shares",
    "cross_validate",
    "cv_splits",
    "default_primary",
    "imbalance_warning",
    "metric_names",
    "minority_class",
    "read_run_file",
    "run_evaluation",
    "score_model",
    "summarise",
    "warn_if_imbalanced",
    "write_plots",
]
