"""Metrics by slice (fairlearn's MetricFrame): per level of categorical features, per quartile
of the most important numeric ones; small slices grouped; worst slices; gaps by column (pure)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

OTHER = "(other)"
MISSING = "(missing)"
#: Mirrors `mlops.data.pii.REDACTED` (level names of personal columns are never shown).
REDACTED = "<redacted>"
QUANTILES = 4


@dataclass(frozen=True)
class SliceRow:
    column: str
    level: str
    count: int
    value: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "level": self.level,
            "count": self.count,
            "value": self.value,
        }


@dataclass(frozen=True)
class SliceGap:
    """The largest difference of the slice metric between levels of one column."""

    column: str
    gap: float
    best: str
    worst: str

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "gap": self.gap, "best": self.best, "worst": self.worst}


@dataclass(frozen=True)
class SliceReport:
    metric: str
    lower_is_better: bool
    min_count: int
    rows: list[SliceRow] = field(default_factory=list)
    gaps: list[SliceGap] = field(default_factory=list)

    def worst(self, n: int = 5) -> list[SliceRow]:
        """The `n` slices (of at least `min_count` rows) where the model does worst."""
        ranked = [r for r in self.rows if r.value is not None and r.count >= self.min_count]
        ranked.sort(key=lambda r: -(r.value or 0.0) if self.lower_is_better else (r.value or 0.0))
        return ranked[:n]

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "lower_is_better": self.lower_is_better,
            "min_count": self.min_count,
            "rows": [r.to_json() for r in self.rows],
            "worst": [r.to_json() for r in self.worst()],
            "gaps": [g.to_json() for g in self.gaps],
        }


def _bin_label(interval: Any) -> str:
    return f"[{interval.left:.4g}, {interval.right:.4g}]"


def slice_groups(
    values: pd.Series, *, numeric: bool, min_count: int, redact: bool = False
) -> pd.Series:
    """The slice of each row as text: a level (or quartile bin); levels under `min_count`
    rows become `(other)`; a personal column's levels become `<redacted>#1`, `#2`, ..."""
    import pandas as pd

    if numeric:
        binned = pd.qcut(pd.to_numeric(values, errors="coerce"), QUANTILES, duplicates="drop")
        codes = binned.cat.codes
        names = (
            [f"{REDACTED}#{i + 1}" for i in range(len(binned.cat.categories))]
            if redact
            else [_bin_label(c) for c in binned.cat.categories]
        )
        labels = pd.Series(
            [names[c] if c >= 0 else MISSING for c in codes], index=values.index, dtype=object
        )
        return labels
    labels = values.astype(object).where(values.notna(), MISSING).astype(str)
    counts = labels.value_counts()
    if redact:
        order = [level for level in counts.index if level != MISSING]
        mapping = {level: f"{REDACTED}#{i + 1}" for i, level in enumerate(order)}
        labels = labels.map(lambda level: mapping.get(level, level))
        counts = labels.value_counts()
    small = set(counts[counts < min_count].index)
    if len(small) > 1 or (small and len(counts) > 1):
        labels = labels.where(~labels.isin(small), OTHER)
    return labels


def _frame_by_group(
    metric: Callable[[Any, Any], float], truth: Any, predicted: Any, groups: pd.Series
) -> pd.DataFrame:
    from fairlearn.metrics import MetricFrame, count

    def safe(y: Any, p: Any) -> float:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return float(metric(y, p))
        except ValueError:
            return math.nan

    frame = MetricFrame(
        metrics={"value": safe, "count": count},
        y_true=truth,
        y_pred=predicted,
        sensitive_features=groups.rename("slice"),
    )
    by_group: pd.DataFrame = frame.by_group
    return by_group


def slice_report(
    features: pd.DataFrame,
    truth: Any,
    predicted: Any,
    metric_name: str,
    metric: Callable[[Any, Any], float],
    *,
    lower_is_better: bool,
    categorical: Sequence[str],
    numeric: Sequence[str],
    sensitive: Iterable[str] = (),
    redacted: Iterable[str] = (),
    min_count: int = 30,
) -> SliceReport:
    """The slice metric per level of each column, with counts, and gaps of `sensitive` ones."""
    import numpy as np

    truth, predicted = np.asarray(truth), np.asarray(predicted)
    hidden, wanted = set(redacted), list(dict.fromkeys(sensitive))
    rows: list[SliceRow] = []
    gaps: list[SliceGap] = []
    columns = [(c, False) for c in categorical] + [(c, True) for c in numeric]
    columns += [(c, False) for c in wanted if c not in categorical and c not in numeric]
    for column, is_numeric in columns:
        if column not in features.columns:
            continue
        groups = slice_groups(
            features[column], numeric=is_numeric, min_count=min_count, redact=column in hidden
        )
        by_group = _frame_by_group(metric, truth, predicted, groups)
        found = []
        for level, values in by_group.iterrows():
            value = float(values["value"])
            row = SliceRow(
                column, str(level), int(values["count"]), value if math.isfinite(value) else None
            )
            found.append(row)
        found.sort(key=lambda r: -r.count)
        rows += found
        if column in wanted:
            gap = _gap(column, found, min_count, lower_is_better)
            if gap is not None:
                gaps.append(gap)
    return SliceReport(metric_name, lower_is_better, min_count, rows, gaps)


def _gap(
    column: str, rows: list[SliceRow], min_count: int, lower_is_better: bool
) -> SliceGap | None:
    scored = [r for r in rows if r.value is not None and r.count >= min_count]
    if len(scored) < 2:
        return None
    ranked = sorted(scored, key=lambda r: r.value or 0.0, reverse=not lower_is_better)
    best, worst = ranked[0], ranked[-1]
    return SliceGap(
        column, abs((best.value or 0.0) - (worst.value or 0.0)), best.level, worst.level
    )
