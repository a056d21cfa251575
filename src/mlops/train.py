"""Train capability: estimators from the catalog, `check_model_params()` and `fit_pipeline()`
(pure), and `run_training()` (stage)."""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, catalog, errors, faults, progress, threads, tracking
from mlops.config import ModelParams, Params, Task
from mlops.data import Schema, load_schema, load_split, split_xy
from mlops.errors import ConfigError, DataError
from mlops.evaluate import score_model
from mlops.features import build_preprocessor
from mlops.project import Project

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


def _estimator(module: str, name: str) -> Callable[..., Any]:
    def make(**kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(**kwargs)

    make.__qualname__ = name
    return make


#: Estimators by task and the name used in `params.yaml` (`model.estimator`): the catalog's
#: table, as factories.
ESTIMATORS: dict[Task, dict[str, Callable[..., Any]]] = {
    task: {name: _estimator(module, cls) for name, (module, cls) in table.items()}
    for task, table in catalog.ESTIMATORS.items()
}


def _unknown_parameter(
    estimator: str, key: str, name: str, valid: list[str], value: Any = None
) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    section = difflib.get_close_matches(name, sorted(catalog.ESTIMATOR_NAMES), n=1)
    if isinstance(value, dict) and section:  # a misspelt per-estimator section
        hint = f"did you mean the section {section[0]!r}? "
    else:
        hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{key}: {estimator} has no parameter {name!r} ({hint}valid: {', '.join(valid)})"


def _rejected_values(make: Callable[..., Any], key: str, hyper: dict[str, Any]) -> list[str]:
    """sklearn's own parameter constraints, one value at a time (no fit, no data)."""
    if not hasattr(make(), "_validate_params"):  # scikit-learn < 1.2: checked when fitting
        return []
    problems = []
    for name, value in hyper.items():
        estimator = make()
        try:
            estimator.set_params(**{name: value})
            estimator._validate_params()
        except (TypeError, ValueError) as exc:
            problems.append(f"{key}.{name}: {errors.first_line(exc)}")
    return problems


def _check_hyperparameters(
    make: Callable[..., Any], name: str, key: str, hyper: dict[str, Any]
) -> list[str]:
    valid = sorted(make().get_params(deep=False))
    unknown = [
        _unknown_parameter(name, f"{key}.{param}", param, valid, hyper[param])
        for param in sorted(set(hyper) - set(valid))
    ]
    known = {param: value for param, value in hyper.items() if param in valid}
    return unknown + _rejected_values(make, key, known)


def _check_class_weight(make: Callable[..., Any], name: str, weight: str) -> list[str]:
    if "class_weight" not in make().get_params(deep=False):
        return [f"model.class_weight: {name} does not accept class weights"]
    return _rejected_values(make, "model", {"class_weight": weight})


def check_model_params(params: Params) -> list[str]:
    """The estimators' hyperparameters checked against sklearn, without data or fitting.

    Every section of `model.params` for an estimator of the task (in the flat form: the
    chosen estimator's hyperparameters) and `model.class_weight`: names the estimator does
    not accept and values its own constraints reject. One line per problem, each starting
    with the key; empty when valid. Imports sklearn: not for every command.
    """
    model = params.model
    table = ESTIMATORS[params.data.task]
    wanted: dict[str, dict[str, Any]] = {
        name: section or {}
        for name, section in model.sections().items()
        if isinstance(section, dict | None)  # a section of another shape: check_params
    }
    wanted[model.estimator] = model.active()  # its section with the flat overrides
    problems = []
    for name, hyper in wanted.items():
        make = table.get(name)
        if make is not None:  # an estimator of another task: check_params names it
            found = _check_hyperparameters(make, name, model.params_key(name), hyper)
            if name == model.estimator:  # a flat override is named where it was written
                for key in model.flat():
                    found = [
                        p.replace(f"{model.params_key(name)}.{key}:", f"model.params.{key}:")
                        for p in found
                    ]
            problems += found
    chosen = table.get(model.estimator)
    if chosen is not None and model.class_weight is not None:
        problems += _check_class_weight(chosen, model.estimator, model.class_weight)
    return problems + _check_space(params)


def _check_space(params: Params) -> list[str]:
    """`tune.space`: hyperparameter names the estimator accepts, range ends and choices its
    constraints accept (the values in between are of the same kind)."""
    table = ESTIMATORS[params.data.task]
    problems: list[str] = []
    for name, section in params.tune.space.items():
        make = table.get(name)
        if make is None:  # not an estimator of the task: check_params names it
            continue
        key = f"tune.space.{name}"
        valid = sorted(make().get_params(deep=False))
        for param in sorted(set(section) - set(valid)):
            problems.append(_unknown_parameter(name, f"{key}.{param}", param, valid))
        for param, spec in section.items():
            if param not in valid:
                continue
            if spec.type == "categorical":
                values = list(spec.choices or [])
            else:
                ends = [v for v in (spec.low, spec.high) if v is not None]
                values = [int(v) for v in ends] if spec.type == "int" else ends
            for value in values:
                problems += _rejected_values(make, key, {param: value})
    return list(dict.fromkeys(problems))


def require_valid_model(project: Project) -> None:
    """Fail fast (ConfigError, one line per problem) when `check_model_params` finds any."""
    problems = check_model_params(project.params)
    if problems:
        path = project.config.params_path
        raise ConfigError(*(f"{path}: {problem}" for problem in problems))


def build_estimator(task: Task, params: ModelParams, seed: int) -> Any:
    """Instantiate the configured estimator, rejecting unknown names and hyperparameters."""
    table = ESTIMATORS[task]
    make = table.get(params.estimator)
    if make is None:
        raise ConfigError(
            f"model.estimator: unknown estimator {params.estimator!r} for {task} "
            f"(known: {', '.join(table)})"
        )
    estimator = make()
    valid = estimator.get_params()
    settings = params.active()
    key = params.params_key()
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ConfigError(
            _unknown_parameter(params.estimator, f"{key}.{unknown[0]}", unknown[0], sorted(valid))
        )
    if params.class_weight is not None:
        if "class_weight" not in valid:
            raise ConfigError(
                f"model.class_weight: {params.estimator} does not accept class weights"
            )
        settings["class_weight"] = params.class_weight
    if "random_state" in valid and "random_state" not in settings:
        settings["random_state"] = seed
    try:
        estimator.set_params(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {errors.first_line(exc)}") from exc
    return estimator


def fit_pipeline(schema: Schema, params: ModelParams, train: pd.DataFrame, seed: int) -> Pipeline:
    """Fit preprocessing + estimator as one sklearn Pipeline."""
    from sklearn.pipeline import Pipeline

    estimator = build_estimator(schema.task, params, seed)
    pipeline = Pipeline([("features", build_preprocessor(schema)), ("model", estimator)])
    features, target = split_xy(train, schema)
    try:
        plan = planned_iterations(estimator) if progress.active() else ""
        with progress.task("fit", note=plan):
            pipeline.fit(features, target)
    except ValueError as exc:
        raise DataError(f"training failed: {tracking.first_line(exc)}") from exc
    return pipeline


def planned_iterations(estimator: Any) -> str:
    """What the fit plans, for its progress line: `up to 200 iterations`, `300 trees`, or ""."""
    settings = estimator.get_params(deep=False)
    name = type(estimator).__name__
    if isinstance(settings.get("max_iter"), int):
        return f"{name}, up to {settings['max_iter']:,} iterations"
    if isinstance(settings.get("n_estimators"), int):
        return f"{name}, {settings['n_estimators']:,} estimators"
    return name


#: Folds of the cross-validation that chooses `model.threshold: auto` (training split only).
THRESHOLD_FOLDS = 5


def choose_threshold(
    pipeline: Pipeline, features: pd.DataFrame, target: pd.Series, seed: int
) -> float:
    """The probability threshold that maximises balanced accuracy on out-of-fold predictions
    of the training split (the test split is never seen)."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=THRESHOLD_FOLDS, shuffle=True, random_state=seed)
    with progress.task("threshold", note=f"{THRESHOLD_FOLDS}-fold cross-validation"):
        proba = cross_val_predict(
            clone(pipeline), features, target, cv=folds, method="predict_proba"
        )
    positive = pipeline.classes_[1]
    truth = np.asarray(target) == positive
    candidates = np.unique(np.round(proba[:, 1], 4))
    best, best_score = 0.5, -1.0
    for threshold in candidates[(candidates > 0) & (candidates < 1)]:
        score = balanced_accuracy_score(truth, proba[:, 1] >= threshold)
        if score > best_score + 1e-12:
            best, best_score = float(threshold), float(score)
    return best


def apply_threshold(
    pipeline: Pipeline, params: ModelParams, features: pd.DataFrame, target: pd.Series, seed: int
) -> tuple[Any, float | None]:
    """Wrap a binary classifier in sklearn's FixedThresholdClassifier per `model.threshold`."""
    if params.threshold is None:
        return pipeline, None
    if len(pipeline.classes_) != 2:
        raise ConfigError(
            f"model.threshold: a decision threshold needs two classes; the target has "
            f"{len(pipeline.classes_)}"
        )
    from sklearn.model_selection import FixedThresholdClassifier

    threshold = (
        choose_threshold(pipeline, features, target, seed)
        if params.threshold == "auto"
        else float(params.threshold)
    )
    wrapped = FixedThresholdClassifier(
        pipeline, threshold=threshold, response_method="predict_proba"
    )
    wrapped.fit(features, target)
    return wrapped, threshold


def signature_example(train: pd.DataFrame, schema: Schema, rows: int = 5) -> pd.DataFrame:
    """The model's input example, typed as the contract says (what MLflow's signature records).

    An integer column the contract allows to be missing is declared double: a missing value
    turns it into floats. The others stay integers, so MLflow accepts the data as it comes.
    Personal columns (`data.pii` hash or keep) are redacted: missing numbers, `<redacted>` text.
    """
    from mlops.data.pii import REDACTED

    example = train[schema.features].head(rows)
    personal = schema.personal()
    nullable_ints = [
        c.name
        for c in schema.feature_columns()
        if c.dtype == "integer" and (c.nullable or c.name in personal)
    ]
    example = example.astype(dict.fromkeys(nullable_ints, "float64"))
    for col in schema.feature_columns():  # personal values never reach the tracker
        if col.name in personal:
            example[col.name] = float("nan") if col.kind == "numeric" else REDACTED
    return example


@dataclass(frozen=True)
class TrainingResult:
    run_id: str
    model_uri: str
    model_path: Path
    metrics: dict[str, float]
    fit_seconds: float


def run_training(project: Project, store: tracking.Store) -> TrainingResult:
    """Stage: fit on the train split, save the model, and track everything in MLflow."""
    require_valid_model(project)  # before any data is read: a bad value fails in a second
    paths = project.settings.paths
    schema = load_schema(paths.schema_file)
    train = load_split(project, "train")
    params = project.params
    if schema.task != params.data.task or schema.target != params.data.target:
        raise DataError(
            f"{paths.schema_file}: contract is for {schema.task} of {schema.target!r} but "
            f"params say {params.data.task} of {params.data.target!r}; rerun `mlops data ingest`"
        )
    build_estimator(schema.task, params.model, params.split.seed)  # fail fast before tracking

    with threads.limited(params.train.n_jobs):
        start = time.perf_counter()
        faults.checkpoint("train.before_fit")
        pipeline = fit_pipeline(schema, params.model, train, params.split.seed)
        features, target = split_xy(train, schema)
        pipeline, threshold = apply_threshold(
            pipeline, params.model, features, target, params.split.seed
        )
        fit_seconds = time.perf_counter() - start
        faults.checkpoint("train.after_fit")
        metrics = score_model(pipeline, features, target, schema.task)
        example = signature_example(train, schema)
        example_predictions = pipeline.predict(example)
    hashes = {"train": artifacts.file_md5(paths.train)}
    if paths.test.exists():
        hashes["test"] = artifacts.file_md5(paths.test)
    git = tracking.git_state(project.root)
    name = tracking.run_name(params.model, git, tracking.dvc_experiment())
    experiment_id = store.experiment_id
    with store.run(run_name=name) as run_id:
        tracking.set_tags(
            {
                **tracking.lineage_tags(project.config, hashes, git),
                tracking.tags.STAGE: "train",
                tracking.tags.ESTIMATOR: params.model.estimator,
            }
        )
        tracking.log_params(project.config.params_flat())
        faults.checkpoint("train.in_run")
        extra = {"threshold": threshold} if threshold is not None else {}
        tracking.log_metrics({**metrics, "fit_seconds": fit_seconds, **extra}, prefix="train_")
        tracking.log_dataset(
            train,
            path=paths.train,
            digest=hashes["train"],
            name="train",
            context="training",
            target=schema.target,
        )
        # One dump: the bytes MLflow logs are the model DVC tracks, checked against our allowlist.
        model_bytes, _ = artifacts.dump_model(pipeline)
        logged = tracking.log_sklearn_model(
            pipeline,
            model_bytes,
            example,
            example_predictions,
            sorted(artifacts.TRUSTED_MODEL_TYPES),
        )
        model_uri = logged.uri
        faults.checkpoint("train.after_log_model")
        # Inside the run: a write that fails (disk full, read-only) ends the run FAILED, not
        # FINISHED beside a command that failed.
        artifacts.write_bytes(paths.model_file, logged.model_bytes)
        faults.checkpoint("train.before_run_file")
        artifacts.write_json(
            paths.run_file,
            {
                "run_id": run_id,
                "model_uri": model_uri,
                "experiment_id": experiment_id,
                "estimator": params.model.estimator,
                "task": schema.task,
                "train_md5": hashes["train"],
                # Ties the two files together: a crash between their writes is detected.
                "model_md5": artifacts.file_md5(paths.model_file),
            },
        )
    return TrainingResult(run_id, model_uri, paths.model_file, metrics, fit_seconds)
