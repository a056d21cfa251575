"""Tune capability: `mlops tune` searches `tune.space` with Optuna (TPE, median pruner over
CV folds), resumably, in-process or on a Dask cluster, every trial an MLflow child run."""

from __future__ import annotations

from mlops.tune._apply import apply_params
from mlops.tune._plan import Progress
from mlops.tune._run import PLOTS_DIR, REPORT_FILE, TuneResult, run_tuning, trial_rows
from mlops.tune._space import rounded, suggest
from mlops.tune._study import STUDY_FILE, storage_url
from mlops.tune._trial import TrialResult, TrialTask, run_trial

__all__ = [
    "PLOTS_DIR",
    "REPORT_FILE",
    "STUDY_FILE",
    "Progress",
    "TrialResult",
    "TrialTask",
    "TuneResult",
    "apply_params",
    "rounded",
    "run_trial",
    "run_tuning",
    "storage_url",
    "suggest",
    "trial_rows",
]
