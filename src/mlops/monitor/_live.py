"""Live metrics: captured predictions joined with labels that arrived later, against the gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from mlops.catalog import Task
from mlops.config import Threshold
from mlops.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REQUEST_ID = "_request_id"
ROW = "_row"
#: The labels file's columns for a join by request: `request_id` (and `row` for batches).
LABEL_REQUEST = "request_id"
LABEL_ROW = "row"
PREDICTION = "prediction"


class LiveMetrics(BaseModel):
    """The champion's metrics on labelled live traffic, beside its test metrics and the gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: str
    joined_rows: int
    join: str
    metrics: dict[str, float]
    test_metrics: dict[str, float]
    gate: dict[str, Any]
    notes: list[str]

    @property
    def passed(self) -> bool:
        return bool(self.gate.get("passed", True))

    @property
    def gate_metrics(self) -> list[str]:
        return [str(r["name"]) for r in self.gate.get("results", [])]


@dataclass(frozen=True)
class _Captured:
    """What `assess_model` calls a model: the captured predictions (and, when the champion is
    at hand, its probabilities for the same rows)."""

    predictions: np.ndarray

    def predict(self, _features: Any) -> np.ndarray:
        return self.predictions


@dataclass(frozen=True)
class _CapturedProba(_Captured):
    classes_: list[Any]
    proba: np.ndarray

    def predict_proba(self, _features: Any) -> np.ndarray:
        return self.proba


def read_labels(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: labels file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read labels ({exc})") from exc
    raise DataError(f"{path}: unsupported labels file {suffix!r}, expected .csv or .parquet")


def join_labels(
    captured: pd.DataFrame, labels: pd.DataFrame, path: Path, target: str, key: str | None
) -> tuple[pd.DataFrame, str]:
    """Captured rows with a `_label` column, joined by request id (and row) or by `key`."""
    label_column = target if target in labels.columns else "label"
    if label_column not in labels.columns:
        raise DataError(f"{path}: no label column (expected {target!r} or 'label')")
    if key is not None:
        for side, frame in (("labels", labels), ("captured traffic", captured)):
            if key not in frame.columns:
                raise DataError(f"{path}: --label-key {key!r} is not a column of the {side}")
        left, right = [key], [key]
    else:
        if LABEL_REQUEST not in labels.columns:
            raise DataError(
                f"{path}: no {LABEL_REQUEST!r} column to join on (or pass --label-key COLUMN)"
            )
        left, right = [REQUEST_ID], [LABEL_REQUEST]
        if LABEL_ROW in labels.columns and ROW in captured.columns:
            left, right = [REQUEST_ID, ROW], [LABEL_REQUEST, LABEL_ROW]
    keyed = labels[[*right, label_column]].rename(
        columns={**dict(zip(right, left, strict=True)), label_column: "_label"}
    )
    for name in left:  # ids are compared as text: a CSV reader may have made them numbers
        if name != ROW:
            keyed[name] = keyed[name].astype(str)
    base = captured.copy()
    for name in left:
        if name != ROW:
            base[name] = base[name].astype(str)
    if base.duplicated(subset=left).any():
        raise DataError(
            f"{path}: captured rows repeat the join key {', '.join(left)} (batch requests): "
            f"add a {LABEL_ROW!r} column (the row's position in its request) to the labels"
        )
    if keyed.duplicated(subset=left).any():
        raise DataError(f"{path}: labels repeat the join key {', '.join(right)}")
    joined = base.merge(keyed, left_on=left, right_on=left, how="inner")
    joined = joined[joined["_label"].notna()]
    if joined.empty:
        raise DataError(
            f"{path}: no label joins the captured traffic on {', '.join(right)} "
            f"({len(labels)} labels, {len(captured)} captured rows)"
        )
    return joined, " + ".join(right)


def live_metrics(
    joined: pd.DataFrame,
    task: Task,
    thresholds: Mapping[str, Threshold],
    test_metrics: Mapping[str, float],
    path: Path,
    how: str,
    champion: Any | None = None,
    features: list[str] | None = None,
) -> LiveMetrics:
    """Metrics of the captured predictions against the labels, checked against the gate.

    Probability metrics (roc_auc, log_loss, ...) need the champion's probabilities for the
    same rows: computed when the champion model is given, else left out (noted).
    """
    import numpy as np

    from mlops.evaluate import score_model
    from mlops.gates import evaluate_gates

    notes: list[str] = []
    truth = joined["_label"]
    predicted = joined[PREDICTION].to_numpy()
    if task == "classification":
        truth = truth.astype(str)
        predicted = predicted.astype(str)
        model: _Captured = _Captured(predicted)
        classes = getattr(champion, "classes_", None) if champion is not None else None
        if champion is not None and classes is not None and features is not None:
            missing = [f for f in features if f not in joined.columns]
            if missing:
                notes.append(f"probability metrics left out: features {', '.join(missing)} absent")
            else:
                proba = np.asarray(champion.predict_proba(joined[features]), dtype=np.float64)
                model = _CapturedProba(predicted, [str(c) for c in classes], proba)
        else:
            notes.append("probability metrics left out: the champion model is not available")
    else:
        truth = truth.astype(float)
        model = _Captured(predicted.astype(float))
    metrics = score_model(model, joined, truth, task)
    checked = {n: t for n, t in thresholds.items() if n in metrics}
    for name in thresholds:
        if name not in metrics:
            notes.append(f"gate {name!r} not checked: not computable on the live rows")
    gate = evaluate_gates(metrics, checked)
    return LiveMetrics(
        labels=str(path),
        joined_rows=len(joined),
        join=how,
        metrics={k: round(v, 6) for k, v in metrics.items()},
        test_metrics={k: v for k, v in test_metrics.items() if k in metrics},
        gate=gate.to_json(),
        notes=notes,
    )
