"""The `mlops eval` stage: score the trained model on the test split, report, log, gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, faults, progress, threads, tracking
from mlops.errors import ConfigError, DataError, StageOrderError
from mlops.evaluate._cv import CvScores, cross_validate
from mlops.evaluate._plots import write_plots
from mlops.evaluate._scoring import RARE_CLASS_SHARE, assess_model, class_shares, default_primary
from mlops.gates import GateReport, evaluate_gates, model_checks
from mlops.project import Project

if TYPE_CHECKING:
    import pandas as pd

#: The package's name, not this module's: log lines read `mlops.evaluate: ...` as before the split.
log = logging.getLogger("mlops.evaluate")

#: Primary metrics a majority-class predictor cannot look good on (ranking or class-balanced).
IMBALANCE_AWARE_PRIMARY = frozenset(
    {
        "average_precision",
        "roc_auc",
        "balanced_accuracy",
        "recall_macro",
        "f1_macro",
        "minority_precision",
        "minority_recall",
    }
)

#: Gated metrics a majority-class predictor fails: no advice to add one when one is gated.
BALANCED_GATES = frozenset({"balanced_accuracy", "recall_macro", "f1_macro", "minority_recall"})


@dataclass(frozen=True)
class EvaluationResult:
    run_id: str
    metrics: dict[str, float]
    gate: GateReport
    metrics_path: Path
    plots: list[Path]
    #: `--cv K`: k-fold estimates on the training split (None without it).
    cv: CvScores | None = None


def read_run_file(project: Project) -> dict[str, Any]:
    path = project.settings.paths.run_file
    if not path.exists() or not project.settings.paths.model_file.exists():
        raise StageOrderError(f"{path}: no trained model found; run `mlops train` first")
    record = artifacts.read_json(path)
    if not isinstance(record, dict) or "run_id" not in record:
        raise DataError(f"{path}: expected a JSON object with a run_id")
    model_file = project.settings.paths.model_file
    expected = record.get("model_md5")
    if expected is not None and artifacts.file_md5(model_file) != expected:
        raise StageOrderError(
            f"{model_file} does not match {path} (an interrupted `mlops train`?); "
            "run `mlops train` again"
        )
    return record


def imbalance_warning(project: Project, target: pd.Series) -> str | None:
    """What to say when the training target's rarest class is under `RARE_CLASS_SHARE`."""
    shares = class_shares(target)
    if len(shares) < 2:
        return None
    rare, share = next(iter(shares.items()))
    if share >= RARE_CLASS_SHARE:
        return None
    advice = []
    if project.params.model.class_weight is None:
        advice.append("set `model.class_weight: balanced`")
    primary = project.params.gate.primary or default_primary(project.params.data.task, target)
    if primary not in IMBALANCE_AWARE_PRIMARY:
        ranking = "average_precision" if len(shares) == 2 else "balanced_accuracy"
        advice.append(f"use a ranking or balanced primary metric (`gate.primary: {ranking}`)")
    if not set(project.params.gate.metrics) & BALANCED_GATES:
        advice.append(
            "gate on balanced_accuracy or minority_recall (accuracy rewards predicting the "
            "majority class)"
        )
    text = (
        f"class imbalance: {rare!r} is {share:.1%} of the training target "
        f"(under {RARE_CLASS_SHARE:.0%})"
    )
    return f"{text}; {'; '.join(advice)}" if advice else text


def warn_if_imbalanced(project: Project, target: pd.Series) -> None:
    message = imbalance_warning(project, target)
    if message:
        log.warning("%s", message)


def run_evaluation(
    project: Project, store: tracking.Store, *, cv: int | None = None
) -> EvaluationResult:
    """Stage: score the trained model on the test split, write reports, log them, apply gates.

    `cv`: also estimate every metric by k-fold cross-validation of the same model on the
    training split (mean and std in `metrics.json` under `cv`, `cv_<metric>_mean/_std` in
    MLflow); the test split only ever scores the trained model.
    """
    from mlops.data import load_schema, load_split, split_xy

    if cv is not None and cv < 2:
        raise ConfigError(f"--cv: needs at least 2 folds (got {cv})")
    paths = project.settings.paths
    record = read_run_file(project)
    schema = load_schema(paths.schema_file)
    test = load_split(project, "test")
    model = artifacts.load_model(paths.model_file)
    features, target = split_xy(test, schema)
    if schema.task == "classification":
        train_target = (
            split_xy(load_split(project, "train"), schema)[1] if paths.train.exists() else target
        )
        warn_if_imbalanced(project, train_target)
    steps = 3 if cv is None else 4
    with progress.task("eval", total=steps, unit="steps", note="scoring the test split") as step:
        with threads.limited(project.params.train.n_jobs):
            scores = assess_model(model, features, target, schema.task)
            metrics = scores.metrics
            checks, notes = model_checks(scores.predicted)
            gate = evaluate_gates(metrics, project.params.gate.metrics, checks=checks, notes=notes)
            cv_scores = None
            if cv is not None:
                step.update(completed=1, note=f"{cv}-fold cross-validation")
                train_x, train_y = split_xy(load_split(project, "train"), schema)
                seed = project.params.split.seed
                cv_scores = cross_validate(
                    model, train_x, train_y, schema.task, folds=cv, seed=seed
                )
            reports = paths.reports
            report: dict[str, Any] = dict(metrics)
            if cv_scores is not None:
                report["cv"] = cv_scores.to_json()
            metrics_path = artifacts.write_json(reports / "metrics.json", report)
            artifacts.write_json(reports / "gate.json", gate.to_json())
            faults.checkpoint("eval.after_metrics")
            step.update(completed=steps - 2, note="plots")
            plots = write_plots(model, features, target, schema.task, reports)

        step.update(completed=steps - 1, note="logging to MLflow")
        test_md5 = artifacts.file_md5(paths.test)
        with store.run(run_id=str(record["run_id"])):
            tracking.log_metrics(metrics, prefix="test_")
            if cv_scores is not None:
                tracking.log_metrics(cv_scores.flat())
            faults.checkpoint("eval.in_run")
            tracking.set_tags(
                {
                    tracking.tags.GATE_PASSED: str(gate.passed).lower(),
                    tracking.tags.TEST_MD5: test_md5,
                }
            )
            tracking.log_dataset(
                test, path=paths.test, digest=test_md5, name="test", context="testing",
                target=schema.target,
            )  # fmt: skip
            tracking.log_artifacts(metrics_path, "reports")
            tracking.log_artifacts(reports / "gate.json", "reports")
            tracking.log_artifacts(reports / "plots", "reports/plots")
            tracking.log_artifacts(reports / "figures", "reports/figures")
    return EvaluationResult(str(record["run_id"]), metrics, gate, metrics_path, plots, cv=cv_scores)
