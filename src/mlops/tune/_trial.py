"""One trial, as a picklable task: fit and cross-validate one set of hyperparameters.

`run_trial` runs in the driver (no cluster) or on a Dask worker. It reads the training split
from its path, reports each fold's running mean to the Optuna study (shared storage) for the
median pruner, and logs one MLflow child run of the tuning's parent run.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import threads
from mlops.config import ModelParams, Task
from mlops.errors import first_line
from mlops.tracking import tags, trials

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

COMPLETE, PRUNED, FAIL = "COMPLETE", "PRUNED", "FAIL"
#: The MLflow status a trial's child run ends with.
RUN_STATUS = {COMPLETE: "FINISHED", PRUNED: "FINISHED", FAIL: "FAILED"}


@dataclass(frozen=True)
class TrialTask:
    """Everything a trial needs, as plain values (sent to a worker)."""

    study_name: str
    storage: str
    pruner: str
    trial_id: int
    number: int
    params: dict[str, Any]
    model: dict[str, Any]
    task: Task
    train_path: str
    schema_path: str
    folds: int
    seed: int
    metric: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    n_jobs: int | None = 1


@dataclass(frozen=True)
class TrialResult:
    number: int
    state: str
    run_id: str | None
    #: Mean and std of each metric over the folds scored (a pruned trial: the folds it ran).
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    folds: int = 0
    seconds: float = 0.0
    error: str | None = None


class _Pruned(Exception):
    """The median pruner stopped the trial after a fold."""


#: Per process: the training split by (path, mtime), and Optuna studies by (storage, name).
_DATA: dict[tuple[str, float], tuple[Any, pd.DataFrame, pd.Series]] = {}
_STUDIES: dict[tuple[str, str], Any] = {}


def register_study(storage: str, name: str, study: Any) -> None:
    """The driver's own study object, used by trials it runs in-process."""
    _STUDIES[(storage, name)] = study


def make_pruner(name: str) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


def open_storage(url: str) -> Any:
    """Optuna's RDB storage; SQLite waits for a busy database instead of failing."""
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    return optuna.storages.RDBStorage(url, **kwargs)


def _study(task: TrialTask) -> Any:
    key = (task.storage, task.study_name)
    if key not in _STUDIES:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        _STUDIES[key] = optuna.load_study(
            study_name=task.study_name,
            storage=open_storage(task.storage),
            pruner=make_pruner(task.pruner),
        )
    return _STUDIES[key]


def _training_data(task: TrialTask) -> tuple[Any, pd.DataFrame, pd.Series]:
    from mlops import artifacts
    from mlops.data import load_schema, split_xy

    path = Path(task.train_path)
    key = (str(path), path.stat().st_mtime)
    if key not in _DATA:
        schema = load_schema(Path(task.schema_path))
        features, target = split_xy(artifacts.read_table(path), schema)
        _DATA.clear()
        _DATA[key] = (schema, features, target)
    return _DATA[key]


def trial_model(model: dict[str, Any], params: dict[str, Any]) -> ModelParams:
    """The model params of a trial: `model.params` of the estimator with the sampled values over."""
    base = ModelParams.model_validate(model)
    return base.model_copy(update={"params": {**base.active(), **params}})


def _fit_and_score(task: TrialTask, per_fold: list[dict[str, float]]) -> None:
    from sklearn.pipeline import Pipeline

    from mlops.evaluate import cross_validate
    from mlops.features import build_preprocessor
    from mlops.train import build_estimator

    schema, features, target = _training_data(task)
    model = trial_model(task.model, task.params)
    estimator = build_estimator(task.task, model, task.seed)
    pipeline = Pipeline([("features", build_preprocessor(schema)), ("model", estimator)])
    pruning = task.pruner != "none"
    trial = None
    if pruning:
        import optuna

        trial = optuna.trial.Trial(_study(task), task.trial_id)

    def on_fold(index: int, scores: dict[str, float]) -> None:
        per_fold.append(scores)
        if trial is None:
            return
        values = [fold[task.metric] for fold in per_fold if task.metric in fold]
        if not values:
            return
        trial.report(sum(values) / len(values), index)
        if index + 1 < task.folds and trial.should_prune():
            raise _Pruned

    cross_validate(
        pipeline, features, target, task.task, folds=task.folds, seed=task.seed, on_fold=on_fold
    )


def run_trial(task: TrialTask) -> TrialResult:
    """Fit and cross-validate one trial, log its child run, and say how it ended."""
    from mlops.evaluate import summarise

    start = time.perf_counter()
    run_id = trials.start_child_run(
        task.tracking_uri,
        task.experiment_id,
        task.parent_run_id,
        f"trial-{task.number}",
        {tags.TRIAL: str(task.number), tags.STUDY: task.study_name},
    )
    per_fold: list[dict[str, float]] = []
    state, error = COMPLETE, None
    try:
        with threads.limited(task.n_jobs):
            _fit_and_score(task, per_fold)
    except _Pruned:
        state = PRUNED
    except (KeyboardInterrupt, SystemExit):
        trials.finish_child_run(
            task.tracking_uri, run_id, params=task.params, metrics={}, values={}, status="KILLED"
        )
        raise
    except Exception as exc:  # a trial's failure is its result; the study goes on
        state, error = FAIL, first_line(exc)
    seconds = time.perf_counter() - start
    scores = summarise(per_fold)
    if state == COMPLETE and task.metric not in scores.mean:
        state, error = FAIL, f"{task.metric} is undefined on these folds"
    metrics: dict[str, float] = {"folds": float(scores.folds), "duration_s": seconds}
    for name in scores.mean:
        metrics[f"cv_{name}_mean"] = scores.mean[name]
        metrics[f"cv_{name}_std"] = scores.std[name]
    values = {tags.TRIAL_STATE: state}
    if error:
        values[tags.TRIAL_ERROR] = error[:5000]
    trials.finish_child_run(
        task.tracking_uri,
        run_id,
        params=task.params,
        metrics={k: v for k, v in metrics.items() if math.isfinite(v)},
        values=values,
        status=RUN_STATUS[state],
    )
    return TrialResult(
        task.number, state, run_id, scores.mean, scores.std, scores.folds, seconds, error
    )
