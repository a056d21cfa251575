"""Evaluate capability: `score_model()` (pure), plots, and `run_evaluation()` (stage)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts, faults, threads, tracking
from mlops.catalog import CLASSIFICATION_METRICS as CLASSIFICATION_METRICS
from mlops.catalog import LOWER_IS_BETTER as LOWER_IS_BETTER
from mlops.catalog import REGRESSION_METRICS as REGRESSION_METRICS
from mlops.catalog import metric_names as metric_names
from mlops.config import Task
from mlops.errors import DataError, StageOrderError
from mlops.gates import GateReport, evaluate_gates, model_checks
from mlops.project import Project

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


#: A class under this share of the training target is rare: accuracy rewards ignoring it.
RARE_CLASS_SHARE = 0.10
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


def class_shares(target: pd.Series) -> dict[Any, float]:
    """Each class's share of the (non-missing) target, rarest first."""
    shares = target.dropna().value_counts(normalize=True, sort=False)
    return {label: float(share) for label, share in sorted(shares.items(), key=lambda x: x[1])}


def minority_class(target: pd.Series, classes: list[Any] | None = None) -> Any | None:
    """The rarest class of `target` (a tie goes to the later class: the positive one when
    binary); None with fewer than two classes present."""
    counts = target.dropna().value_counts(sort=False)
    if len(counts) < 2:
        return None
    fewest = counts.min()
    rarest = [label for label, count in counts.items() if count == fewest]
    order = classes if classes is not None else sorted(counts.index, key=str)
    ranked = [label for label in order if label in rarest]
    return ranked[-1] if ranked else rarest[0]


def default_primary(task: Task, target: pd.Series | None = None) -> str:
    """The metric promotion compares when `gate.primary` is not set.

    Binary with a class under `RARE_CLASS_SHARE` of `target`: average precision (PR-AUC of the
    rare class); other classification: ROC AUC; regression: R² (unit-free).
    """
    if task == "regression":
        return "r2"
    if target is not None:
        shares = class_shares(target)
        if len(shares) == 2 and min(shares.values()) < RARE_CLASS_SHARE:
            return "average_precision"
    return "roc_auc"


@dataclass(frozen=True)
class Scores:
    """Every metric of the task, and (classification) the distinct classes the model predicted."""

    metrics: dict[str, float]
    #: Sorted labels (as text) of the classes predicted at least once; None for regression.
    predicted: tuple[str, ...] | None = None


def score_model(
    model: Any, features: pd.DataFrame, target: pd.Series, task: Task
) -> dict[str, float]:
    """Every metric of the task; metrics undefined on this data (one class present) are omitted."""
    return assess_model(model, features, target, task).metrics


def assess_model(model: Any, features: pd.DataFrame, target: pd.Series, task: Task) -> Scores:
    """`score_model`, plus which classes the model predicted (one prediction pass)."""
    import numpy as np
    from sklearn import metrics as skm

    predicted = model.predict(features)
    if task == "regression":
        truth = np.asarray(target, dtype=float)
        scores = {
            "rmse": float(np.sqrt(skm.mean_squared_error(truth, predicted))),
            "mae": float(skm.mean_absolute_error(truth, predicted)),
            "r2": float(skm.r2_score(truth, predicted)) if len(truth) > 1 else math.nan,
            "mape": float(skm.mean_absolute_percentage_error(truth, predicted)),
        }
        return Scores(_finite(scores))
    classes = list(getattr(model, "classes_", sorted(set(target) | set(predicted), key=str)))
    scores = {
        "accuracy": float(skm.accuracy_score(target, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(target, predicted)),
        "precision_macro": float(
            skm.precision_score(target, predicted, average="macro", zero_division=0)
        ),
        "recall_macro": float(
            skm.recall_score(target, predicted, average="macro", zero_division=0)
        ),
        "f1_macro": float(skm.f1_score(target, predicted, average="macro", zero_division=0)),
        **_minority_scores(target, predicted, classes),
    }
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        scores["log_loss"] = float(skm.log_loss(target, proba, labels=classes))
        scores["roc_auc"] = _roc_auc(target, proba, classes)
        scores["average_precision"] = _average_precision(target, proba, classes)
    distinct = tuple(sorted({str(label) for label in np.asarray(predicted).tolist()}))
    return Scores(_finite(scores), distinct)


def _minority_scores(target: pd.Series, predicted: Any, classes: list[Any]) -> dict[str, float]:
    """Precision and recall of the rarest class of the target (undefined with one class)."""
    import numpy as np
    from sklearn.metrics import precision_score, recall_score

    rare = minority_class(target, classes)
    if rare is None:
        return {"minority_precision": math.nan, "minority_recall": math.nan}
    truth = np.asarray(target) == rare
    hits = np.asarray(predicted) == rare
    return {
        "minority_precision": float(precision_score(truth, hits, zero_division=0)),
        "minority_recall": float(recall_score(truth, hits, zero_division=0)),
    }


def _average_precision(target: pd.Series, proba: np.ndarray, classes: list[Any]) -> float:
    """PR-AUC: of the rarer class when binary (ties: the second), macro one-vs-rest otherwise."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    truth = np.asarray(target)
    if len(classes) == 2:
        rare = minority_class(target, classes)
        index = classes.index(rare) if rare in classes else 1
        positive = truth == classes[index]
        if positive.all() or not positive.any():
            return math.nan
        return float(average_precision_score(positive, proba[:, index]))
    present = [i for i, label in enumerate(classes) if (truth == label).any()]
    if len(present) < 2:
        return math.nan
    values = [average_precision_score(truth == classes[i], proba[:, i]) for i in present]
    return float(np.mean(values))


def _roc_auc(target: pd.Series, proba: np.ndarray, classes: list[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    if target.nunique() < 2:
        return math.nan
    try:
        if len(classes) == 2:
            return float(roc_auc_score(target, proba[:, 1]))
        return float(roc_auc_score(target, proba, multi_class="ovr", labels=classes))
    except ValueError:  # a class of the model is absent from this data
        return math.nan


def _finite(scores: dict[str, float]) -> dict[str, float]:
    undefined = [name for name, value in scores.items() if not math.isfinite(value)]
    if undefined:
        log.warning("metric(s) undefined on this data, omitted: %s", ", ".join(undefined))
    return {name: value for name, value in scores.items() if math.isfinite(value)}


# --------------------------------------------------------------------------- plots


def write_plots(
    model: Any, features: pd.DataFrame, target: pd.Series, task: Task, reports: Path
) -> list[Path]:
    """Plot data DVC can render (`reports/plots/`) and PNG images (`reports/figures/`)."""
    if task == "classification":
        return _classification_plots(model, features, target, reports)
    return _regression_plots(model, features, target, reports)


def _figure_writer(target: Path) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any) -> Path:
        with artifacts.atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        return target

    return save


def _classification_plots(
    model: Any, features: pd.DataFrame, target: pd.Series, reports: Path
) -> list[Path]:
    import matplotlib.pyplot as plt
    import pandas as pd
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        precision_recall_curve,
        roc_curve,
    )
    from sklearn.preprocessing import label_binarize

    predicted = model.predict(features)
    written = [
        artifacts.write_table(
            reports / "plots" / "confusion.csv",
            pd.DataFrame(
                {"actual": target.astype(str).to_numpy(), "predicted": predicted.astype(str)}
            ),
        )
    ]
    fig, ax = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(target.astype(str), predicted.astype(str), ax=ax)
    ax.set_title("Confusion matrix (test split)")
    written.append(_figure_writer(reports / "figures" / "confusion_matrix.png")(fig))

    if not hasattr(model, "predict_proba") or target.nunique() < 2:
        return written
    proba = model.predict_proba(features)
    classes = list(model.classes_)
    if len(classes) == 2:
        truth = (target.to_numpy() == classes[1]).astype(int).reshape(-1, 1)
        scores = proba[:, 1].reshape(-1, 1)
        labels = [str(classes[1])]
    else:
        truth = label_binarize(target, classes=classes)
        scores = proba
        labels = [str(c) for c in classes]
    # Micro-averaged curves for DVC (one line each); per-class curves in the PNGs.
    fpr, tpr, _ = roc_curve(truth.ravel(), scores.ravel())
    precision, recall, _ = precision_recall_curve(truth.ravel(), scores.ravel())
    written.append(
        artifacts.write_table(reports / "plots" / "roc.csv", pd.DataFrame({"fpr": fpr, "tpr": tpr}))
    )
    written.append(
        artifacts.write_table(
            reports / "plots" / "precision_recall.csv",
            pd.DataFrame({"recall": recall, "precision": precision}),
        )
    )
    for name, curve in (("roc", roc_curve), ("precision_recall", precision_recall_curve)):
        fig, ax = plt.subplots(figsize=(5, 4))
        for index, label in enumerate(labels):
            if truth[:, index].min() == truth[:, index].max():
                continue
            a, b, _ = curve(truth[:, index], scores[:, index])
            x, y = (a, b) if name == "roc" else (b, a)
            ax.plot(x, y, label=label)
        ax.set_xlabel("false positive rate" if name == "roc" else "recall")
        ax.set_ylabel("true positive rate" if name == "roc" else "precision")
        ax.set_title(f"{'ROC' if name == 'roc' else 'Precision-recall'} (one-vs-rest)")
        ax.legend(loc="best")
        written.append(_figure_writer(reports / "figures" / f"{name}.png")(fig))
    return written


def _regression_plots(
    model: Any, features: pd.DataFrame, target: pd.Series, reports: Path
) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    predicted = np.asarray(model.predict(features), dtype=float)
    actual = np.asarray(target, dtype=float)
    written = [
        artifacts.write_table(
            reports / "plots" / "predictions.csv",
            pd.DataFrame({"actual": actual, "predicted": predicted}),
        )
    ]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(actual, predicted, s=8, alpha=0.6)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual (test split)")
    written.append(_figure_writer(reports / "figures" / "predicted_vs_actual.png")(fig))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.hist(actual - predicted, bins=30)
    ax.set_xlabel("residual (actual - predicted)")
    ax.set_title("Residuals (test split)")
    written.append(_figure_writer(reports / "figures" / "residuals.png")(fig))
    return written


# --------------------------------------------------------------------------- stage


@dataclass(frozen=True)
class EvaluationResult:
    run_id: str
    metrics: dict[str, float]
    gate: GateReport
    metrics_path: Path
    plots: list[Path]


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


def run_evaluation(project: Project, store: tracking.Store) -> EvaluationResult:
    """Stage: score the trained model on the test split, write reports, log them, apply gates."""
    from mlops.data import load_schema, load_split, split_xy

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
    with threads.limited(project.params.train.n_jobs):
        scores = assess_model(model, features, target, schema.task)
        metrics = scores.metrics
        checks, notes = model_checks(scores.predicted)
        gate = evaluate_gates(metrics, project.params.gate.metrics, checks=checks, notes=notes)
        reports = paths.reports
        metrics_path = artifacts.write_json(reports / "metrics.json", metrics)
        artifacts.write_json(reports / "gate.json", gate.to_json())
        faults.checkpoint("eval.after_metrics")
        plots = write_plots(model, features, target, schema.task, reports)

    test_md5 = artifacts.file_md5(paths.test)
    with store.run(run_id=str(record["run_id"])):
        tracking.log_metrics(metrics, prefix="test_")
        faults.checkpoint("eval.in_run")
        tracking.set_tags(
            {tracking.tags.GATE_PASSED: str(gate.passed).lower(), tracking.tags.TEST_MD5: test_md5}
        )
        tracking.log_dataset(
            test, path=paths.test, digest=test_md5, name="test", context="testing",
            target=schema.target,
        )  # fmt: skip
        tracking.log_artifacts(metrics_path, "reports")
        tracking.log_artifacts(reports / "gate.json", "reports")
        tracking.log_artifacts(reports / "plots", "reports/plots")
        tracking.log_artifacts(reports / "figures", "reports/figures")
    return EvaluationResult(str(record["run_id"]), metrics, gate, metrics_path, plots)
