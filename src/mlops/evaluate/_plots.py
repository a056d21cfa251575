"""Plots: data DVC can render and PNG figures, from the model's predictions on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts
from mlops.config import Task

if TYPE_CHECKING:
    import pandas as pd


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
