"""The drift report: per-column results, the dataset verdict, and its JSON form.

Every model refuses NaN and infinity (`allow_inf_nan=False`): an undefined number is `None`
(JSON `null`) and every column carries an explicit verdict, so the report is never ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mlops.config import DriftParams

Verdict = Literal["drift", "no_drift", "insufficient_data", "schema_mismatch"]
DatasetVerdict = Literal["drift", "no_drift", "insufficient_data"]
ColumnKind = Literal["numeric", "categorical", "unknown"]
Role = Literal["feature", "target", "prediction"]
Method = Literal["ks", "chisquare", "psi", "jensenshannon", "wasserstein"]

P_VALUE_METHODS: frozenset[str] = frozenset({"ks", "chisquare"})
#: Evidently's default thresholds for the distance methods.
DEFAULT_THRESHOLDS: dict[str, float] = {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1}
STATISTIC_NAMES: dict[str, str] = {
    "ks": "Kolmogorov-Smirnov D",
    "chisquare": "chi-square (contingency)",
    "psi": "population stability index",
    "jensenshannon": "Jensen-Shannon distance",
    "wasserstein": "Wasserstein distance / reference std",
}
#: Order of verdicts when sorting by severity (most urgent first).
VERDICT_RANK: dict[str, int] = {
    "drift": 0,
    "schema_mismatch": 1,
    "no_drift": 2,
    "insufficient_data": 3,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SideStats(_Model):
    """One side of a column: how many rows, how many missing, and a summary of the values."""

    dtype: str | None
    rows: int
    missing: int
    missing_rate: float
    distinct: int | None = None
    mean: float | None = None
    std: float | None = None


class Histogram(_Model):
    """Reference and current shares per bin or category (for the HTML report)."""

    kind: Literal["bins", "categories"]
    labels: list[str]
    reference: list[float]
    current: list[float]
    unseen: list[bool] = []
    #: Categories the reference has and the current batch lost.
    vanished: list[bool] = []
    #: "separate": the two ranges barely overlap, so each side has its own bins: `labels` are
    #: the reference's, `current_labels` the current's.
    axes: Literal["shared", "separate"] = "shared"
    current_labels: list[str] = []


class ColumnDrift(_Model):
    """The verdict for one column, with the numbers behind it and why the method was chosen."""

    column: str
    role: Role = "feature"
    kind: ColumnKind
    verdict: Verdict
    reason: str
    method: Method | None = None
    method_reason: str = ""
    statistic_name: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    threshold: float | None = None
    effect_size_name: str | None = None
    effect_size: float | None = None
    severity: float = 0.0
    reference: SideStats
    current: SideStats
    missing_rate_change: float = 0.0
    missing_shift: bool = False
    unseen_categories: list[str] = []
    unseen_count: int = 0
    unseen_share: float = 0.0
    #: Reference categories absent from the current batch (most frequent first), how many,
    #: and the share of reference rows they held.
    vanished_categories: list[str] = []
    vanished_count: int = 0
    vanished_share: float = 0.0
    #: One side has rows but no value at all (a column that became, or was, 100% missing).
    all_missing: bool = False
    histogram: Histogram | None = None

    @property
    def uses_p_value(self) -> bool:
        return self.method in P_VALUE_METHODS and self.p_value is not None


class IgnoredColumn(_Model):
    column: str
    reason: str


class DatasetInfo(_Model):
    path: str
    format: str
    rows: int
    columns: int
    origin: str
    origin_reason: str
    md5: str | None = None
    champion: str | None = None


class DriftSummary(_Model):
    """Flat numbers and flags: the part of the report DVC reads as `metrics:`."""

    drift: bool
    columns: int
    tested: int
    drifted: int
    share_drifted: float
    share_threshold: float
    critical_drifted: int
    insufficient_data: int
    schema_mismatch: int
    missing_shift: int
    unseen_categories: int
    target_drift: bool | None
    prediction_drift: bool | None
    reference_rows: int
    current_rows: int
    seconds: float
    #: Columns that lost categories the reference has.
    vanished_categories: int = 0
    #: Columns with no value at all on one side (counted as drifted).
    all_missing: int = 0
    #: What a gate acts on: drift, or insufficient data with `drift.fail_on_insufficient`.
    failed: bool = False


class DriftReport(_Model):
    version: int = 1
    verdict: DatasetVerdict
    reasons: list[str]
    summary: DriftSummary
    reference: DatasetInfo
    current: DatasetInfo
    settings: dict[str, Any]
    columns: list[ColumnDrift]
    target: ColumnDrift | None = None
    target_note: str = ""
    prediction: list[ColumnDrift] = []
    prediction_note: str = ""
    ignored: list[IgnoredColumn] = []

    @property
    def drift(self) -> bool:
        return self.verdict == "drift"

    @property
    def failed(self) -> bool:
        """Whether a gate fails on this report (`mlops drift` exits 3): dataset drift, or
        insufficient data while `drift.fail_on_insufficient` is true."""
        return self.summary.failed

    def all_columns(self) -> list[ColumnDrift]:
        extra = [self.target] if self.target is not None else []
        return [*self.columns, *extra, *self.prediction]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- verdicts


def redact_personal(columns: Sequence[ColumnDrift], personal: set[str]) -> list[ColumnDrift]:
    """Columns of personal data with their category labels redacted (`<redacted>#1`, ...):
    counts and verdicts stay, values never reach a report."""
    from mlops.data.pii import redact_labels

    out = []
    for c in columns:
        if c.column in personal:
            update: dict[str, Any] = {
                "unseen_categories": redact_labels(c.unseen_categories),
                "vanished_categories": redact_labels(c.vanished_categories),
            }
            if c.histogram is not None:  # bin edges of a numeric column are values too
                labels = redact_labels(c.histogram.labels)
                own = redact_labels(c.histogram.current_labels)  # the current's own axis
                update["histogram"] = c.histogram.model_copy(
                    update={"labels": labels, "current_labels": own}
                )
            c = c.model_copy(update=update)
        out.append(c)
    return out


def by_severity(columns: Sequence[ColumnDrift]) -> list[ColumnDrift]:
    """Most urgent first: drift (strongest first), schema mismatches, the rest by score."""
    return sorted(columns, key=lambda c: (VERDICT_RANK[c.verdict], -c.severity, c.column))


def apply_correction(columns: Sequence[ColumnDrift], params: DriftParams) -> list[ColumnDrift]:
    """Adjust the p-values of every p-value test in the run as one family; redo their verdicts."""
    from mlops.drift.stats import adjust_pvalues, p_severity

    tested = [i for i, c in enumerate(columns) if c.uses_p_value and c.verdict != "schema_mismatch"]
    result = list(columns)
    if not tested:
        return result
    raw = [columns[i].p_value or 0.0 for i in tested]
    adjusted = adjust_pvalues(raw, params.correction)
    for i, p_adj in zip(tested, adjusted.tolist(), strict=True):
        column = columns[i]
        drift = p_adj <= params.alpha
        label = {"bh": "BH-adjusted ", "bonferroni": "Bonferroni-adjusted ", "none": ""}
        sign = "<=" if drift else ">"
        reason = f"{label[params.correction]}p = {p_adj:.3g} {sign} alpha {params.alpha:g}"
        result[i] = column.model_copy(
            update={
                "p_value_adjusted": p_adj,
                "verdict": "drift" if drift else "no_drift",
                "severity": p_severity(p_adj, params.alpha),
                "reason": reason,
            }
        )
    return result


def counted(column: ColumnDrift) -> bool:
    """Whether a feature column counts toward the drifted share: tested ones, and schema
    mismatches of a column the reference has (a type change or a lost column; a column only
    in the current batch is no feature the model knows)."""
    if column.verdict in ("drift", "no_drift"):
        return True
    return column.verdict == "schema_mismatch" and column.reference.dtype is not None


def is_drifted(column: ColumnDrift) -> bool:
    return column.verdict in ("drift", "schema_mismatch")


def _critical_reason(column: ColumnDrift) -> str | None:
    missing = (
        f"missing rate {column.reference.missing_rate:.1%} -> {column.current.missing_rate:.1%}"
    )
    if column.all_missing:
        return f"critical column {column.column!r}: all values missing ({missing})"
    if is_drifted(column):
        extra = f" ({missing})" if column.missing_shift else ""
        return f"critical column {column.column!r}: {column.verdict}{extra}"
    if column.missing_shift:
        return f"critical column {column.column!r}: {missing}"
    return None


def dataset_verdict(
    features: Sequence[ColumnDrift],
    extra: Sequence[ColumnDrift],
    params: DriftParams,
) -> tuple[DatasetVerdict, list[str], int]:
    """Drift when the share of drifted feature columns (schema mismatches and all-missing
    columns included) reaches `share`, or a critical column drifts, goes missing, or its
    missing-value rate shifts. Returns the verdict, the reasons, critical hits."""
    tested = [c for c in features if counted(c)]
    drifted = [c for c in tested if is_drifted(c)]
    share = len(drifted) / len(tested) if tested else 0.0
    critical = set(params.critical)
    critical_reasons = [
        reason
        for c in [*features, *extra]
        if c.column in critical and (reason := _critical_reason(c)) is not None
    ]
    mismatches = sum(c.verdict == "schema_mismatch" for c in drifted)
    including = f", {mismatches} by schema mismatch" if mismatches else ""
    reasons: list[str] = []
    if tested and share >= params.share:
        reasons.append(
            f"{len(drifted)} of {len(tested)} columns drifted{including} "
            f"({share:.0%} >= share {params.share:.0%})"
        )
    reasons.extend(critical_reasons)
    if reasons:
        return "drift", reasons, len(critical_reasons)
    if not tested:
        why = ["no column had enough data on both sides to test"]
        if params.fail_on_insufficient:
            why.append("a failure: drift.fail_on_insufficient is true")
        return "insufficient_data", why, 0
    return (
        "no_drift",
        [
            f"{len(drifted)} of {len(tested)} columns drifted{including} "
            f"({share:.0%} < share {params.share:.0%})"
        ],
        0,
    )


def summarise(
    verdict: DatasetVerdict,
    features: Sequence[ColumnDrift],
    target: ColumnDrift | None,
    prediction: Sequence[ColumnDrift],
    params: DriftParams,
    critical_drifted: int,
    rows: tuple[int, int],
    seconds: float,
) -> DriftSummary:
    tested = [c for c in features if counted(c)]
    drifted = sum(is_drifted(c) for c in tested)
    tested_predictions = [c for c in prediction if c.verdict in ("drift", "no_drift")]
    return DriftSummary(
        drift=verdict == "drift",
        columns=len(features),
        tested=len(tested),
        drifted=drifted,
        share_drifted=round(drifted / len(tested), 6) if tested else 0.0,
        share_threshold=params.share,
        critical_drifted=critical_drifted,
        insufficient_data=sum(c.verdict == "insufficient_data" for c in features),
        schema_mismatch=sum(c.verdict == "schema_mismatch" for c in features),
        missing_shift=sum(c.missing_shift for c in features),
        unseen_categories=sum(c.unseen_count > 0 for c in features),
        target_drift=(
            target.verdict == "drift"
            if target is not None and target.verdict in ("drift", "no_drift")
            else None
        ),
        prediction_drift=(
            any(c.verdict == "drift" for c in tested_predictions) if tested_predictions else None
        ),
        reference_rows=rows[0],
        current_rows=rows[1],
        seconds=round(seconds, 3),
        vanished_categories=sum(c.vanished_count > 0 for c in features),
        all_missing=sum(c.all_missing for c in features),
        failed=verdict == "drift"
        or (verdict == "insufficient_data" and params.fail_on_insufficient),
    )
