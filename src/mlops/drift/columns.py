"""One column, reference vs current: pick the method, compute it, and give an explicit verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops.config import DriftParams
from mlops.drift import stats
from mlops.drift.ids import identifier
from mlops.drift.report import (
    DEFAULT_THRESHOLDS,
    P_VALUE_METHODS,
    STATISTIC_NAMES,
    ColumnDrift,
    ColumnKind,
    IgnoredColumn,
    Method,
    Role,
    SideStats,
)
from mlops.drift.sides import (
    Side,
    absent_side,
    as_categories,
    category_histogram,
    counted,
    finite,
    numeric_histogram,
    read_side,
    unseen_categories,
    vanished_categories,
)
from mlops.drift.source import type_kind
from mlops.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa


UNSEEN_LISTED = 20
#: A column with no value on one side is drifted past any threshold: most urgent first.
ALL_MISSING_SEVERITY = 1e6


# --------------------------------------------------------------------------- method choice


def _configured(name: str, kind: ColumnKind, params: DriftParams) -> tuple[str, str]:
    if name in params.columns:
        return params.columns[name], f"drift.columns.{name}"
    if kind == "numeric":
        return params.numeric_method, "drift.numeric_method"
    return params.categorical_method, "drift.categorical_method"


def _threshold(name: str, method: Method, params: DriftParams) -> float:
    if method in P_VALUE_METHODS:
        return params.alpha
    if name in params.column_thresholds:
        return params.column_thresholds[name]
    return params.thresholds.get(method, DEFAULT_THRESHOLDS[method])


@dataclass(frozen=True)
class Outcome:
    method: Method
    method_reason: str
    statistic: float
    p_value: float | None
    effect_name: str
    effect: float
    as_categories: bool = False


def _numeric_outcome(name: str, ref: Side, cur: Side, params: DriftParams) -> Outcome:
    assert ref.values is not None and cur.values is not None
    method, source = _configured(name, "numeric", params)
    small = ref.present <= params.large_sample
    size = f"{ref.present:,} reference values {'<=' if small else '>'} large_sample"
    distinct = stats.distinct_union(ref.values, cur.values, params.few_unique)
    if method == "auto" and distinct <= params.few_unique:
        few = f"auto: numeric with {distinct} distinct values (<= few_unique) as categories"
        cats = as_categories(ref), as_categories(cur)
        return _categorical_outcome(name, *cats, params, method="auto", prefix=few)
    if method == "auto":
        method = "ks" if small else "wasserstein"
        why = "two-sample Kolmogorov-Smirnov test" if small else "normalised Wasserstein distance"
        reason = f"auto: numeric, {size} {params.large_sample:,}: {why}"
    else:
        reason = f"{source}: {method}"
    distance = stats.wasserstein_sorted(ref.values, cur.values)
    effect = stats.wasserstein_norm(distance, ref.summary.std or 0.0)
    effect_name = "Wasserstein distance / reference std"
    if method == "ks":
        statistic, p_value = stats.ks_test(ref.values, cur.values)
        return Outcome("ks", reason, statistic, p_value, effect_name, effect, False)
    if method == "wasserstein":
        return Outcome("wasserstein", reason, effect, None, effect_name, effect, False)
    if method == "chisquare":
        cats = as_categories(ref), as_categories(cur)
        return _categorical_outcome(name, *cats, params, method="chisquare", prefix=reason)
    # psi / jensenshannon: Evidently bins a numeric column with > 20 distinct reference values
    # (Sturges' rule over both samples), and compares values as categories otherwise.
    if (ref.summary.distinct or 0) > 20:
        edges = stats.sturges_edges(ref.values, cur.values)
        ref_counts, cur_counts = stats.binned_counts(ref.values, cur.values, edges)
    else:
        _, ref_counts, cur_counts = stats.align_counts(
            *counted(as_categories(ref)), *counted(as_categories(cur))
        )
    if method == "psi":
        return Outcome("psi", reason, stats.psi(ref_counts, cur_counts), None, effect_name, effect)
    value = stats.jensenshannon(ref_counts, cur_counts)
    return Outcome("jensenshannon", reason, value, None, effect_name, effect)


def _categorical_outcome(
    name: str,
    ref: Side,
    cur: Side,
    params: DriftParams,
    *,
    method: str | None = None,
    prefix: str | None = None,
) -> Outcome:
    """Compare category counts; `method` and `prefix` (the why) come from a numeric column
    compared as categories, otherwise from params."""
    _, ref_counts, cur_counts = stats.align_counts(*counted(ref), *counted(cur))
    source = prefix or ""
    if method is None:
        method, source = _configured(name, "categorical", params)
    if method in ("ks", "wasserstein"):
        raise ConfigError(f"{source}: {method} needs a numeric column, {name!r} is categorical")
    small = ref.present <= params.large_sample
    if method == "auto":
        method = "chisquare" if small else "jensenshannon"
        why = "chi-square contingency test" if small else "Jensen-Shannon distance"
        sign = "<=" if small else ">"
        reason = (
            f"{prefix or 'auto: categorical'}, {ref.present:,} reference values {sign} "
            f"large_sample {params.large_sample:,}: {why}"
        )
    else:
        reason = prefix or f"{source}: {method}"
    effect = stats.cramers_v(ref_counts, cur_counts)
    name_v = "Cramér's V"
    if method == "chisquare":
        statistic, p_value = stats.chi2_contingency_test(ref_counts, cur_counts)
        return Outcome("chisquare", reason, statistic, p_value, name_v, effect, True)
    if method == "psi":
        return Outcome("psi", reason, stats.psi(ref_counts, cur_counts), None, name_v, effect, True)
    statistic = stats.jensenshannon(ref_counts, cur_counts)
    return Outcome("jensenshannon", reason, statistic, None, name_v, effect, True)


# --------------------------------------------------------------------------- one column


def column_kinds(ref: pa.DataType | None, cur: pa.DataType | None) -> tuple[str, str]:
    return (
        type_kind(ref) if ref is not None else "absent",
        type_kind(cur) if cur is not None else "absent",
    )


def compare_column(
    name: str,
    ref_array: pa.ChunkedArray | None,
    cur_array: pa.ChunkedArray | None,
    params: DriftParams,
    role: Role = "feature",
    *,
    detect_ids: bool = True,
) -> ColumnDrift | IgnoredColumn:
    """Compare one column; every outcome is an explicit verdict (or a reason to ignore it).

    `detect_ids`: a feature whose reference values are a row number, key or free text is
    ignored (false: a schema contract lists it as a feature).
    """
    ref_kind, cur_kind = column_kinds(
        ref_array.type if ref_array is not None else None,
        cur_array.type if cur_array is not None else None,
    )
    kinds = {ref_kind, cur_kind} - {"empty"}
    if kinds and kinds <= {"datetime", "other"}:
        return IgnoredColumn(column=name, reason=f"{' / '.join(sorted(kinds))} values not compared")
    if "absent" in kinds or len(kinds) > 1:
        return _mismatch(name, ref_array, cur_array, ref_kind, cur_kind, role)
    kind = _kind(kinds.pop()) if kinds else "unknown"
    assert ref_array is not None and cur_array is not None
    if kind == "unknown":
        ref = Side(str(ref_array.type), len(ref_array), 0, labels=[], counts=np.zeros(0, np.int64))
        cur = Side(str(cur_array.type), len(cur_array), 0, labels=[], counts=np.zeros(0, np.int64))
        return _insufficient(name, role, kind, ref, cur, "no values on either side", params)
    reason = identifier(name, ref_array, keys=detect_ids and role == "feature")
    if reason is not None:
        return IgnoredColumn(column=name, reason=f"identifier column ({reason})")
    ref, cur = read_side(ref_array, kind), read_side(cur_array, kind)
    # A target with no value is a batch not labelled yet, not a drifted feature.
    gone = _all_missing(ref, cur, params) if role == "feature" else None
    if gone is not None:
        return _all_missing_result(name, role, kind, ref, cur, gone, params)
    if min(ref.present, cur.present) < params.min_rows:
        why = (
            f"{ref.present} reference and {cur.present} current non-missing values "
            f"(min_rows {params.min_rows})"
        )
        return _insufficient(name, role, kind, ref, cur, why, params)
    with np.errstate(all="ignore"):  # overflow near the float limits is handled, not warned
        if kind == "numeric":
            outcome = _numeric_outcome(name, ref, cur, params)
        else:
            outcome = _categorical_outcome(name, ref, cur, params)
        return _result(name, role, kind, ref, cur, outcome, params)


def _all_missing(ref: Side, cur: Side, params: DriftParams) -> str | None:
    """Why one side has rows but no value while the other has enough (None: not the case)."""
    for side, other, shown in ((cur, ref, "current"), (ref, cur, "reference")):
        if side.rows >= params.min_rows and side.present == 0 and other.present >= params.min_rows:
            rate = other.summary.missing_rate
            other_name = "reference" if shown == "current" else "current"
            return (
                f"all {side.rows:,} {shown} values are missing "
                f"({other_name}: {rate:.1%} missing): counted as drifted"
            )
    return None


def _all_missing_result(
    name: str, role: Role, kind: ColumnKind, ref: Side, cur: Side, why: str, params: DriftParams
) -> ColumnDrift:
    change, shift = _missing_change(ref.summary, cur.summary, params)
    return ColumnDrift(
        column=name,
        role=role,
        kind=kind,
        verdict="drift",
        reason=why,
        method_reason="not tested: no value on one side",
        severity=ALL_MISSING_SEVERITY,
        reference=ref.summary,
        current=cur.summary,
        missing_rate_change=change,
        missing_shift=shift,
        all_missing=True,
    )


def _missing_change(ref: SideStats, cur: SideStats, params: DriftParams) -> tuple[float, bool]:
    change = cur.missing_rate - ref.missing_rate
    return round(change, 6), abs(change) >= params.missing_change


def _kind(text: str) -> ColumnKind:
    if text == "numeric":
        return "numeric"
    if text == "categorical":
        return "categorical"
    return "unknown"


def _result(
    name: str,
    role: Role,
    kind: ColumnKind,
    ref: Side,
    cur: Side,
    outcome: Outcome,
    params: DriftParams,
) -> ColumnDrift:
    threshold = _threshold(name, outcome.method, params)
    undefined = math.isnan(outcome.statistic) or (
        outcome.p_value is not None and math.isnan(outcome.p_value)
    )
    if undefined:  # only with values near the float limits (sums overflow)
        why = f"{outcome.method} is undefined for these values (floating-point overflow)"
        return _insufficient(name, role, kind, ref, cur, why, params)
    if outcome.p_value is not None:
        drift = outcome.p_value <= threshold
        severity = stats.p_severity(outcome.p_value, threshold)
        sign = "<=" if drift else ">"
        reason = f"p = {outcome.p_value:.3g} {sign} alpha {threshold:g}"
    else:
        drift = outcome.statistic >= threshold
        severity = outcome.statistic / threshold
        sign = ">=" if drift else "<"
        reason = f"{outcome.method} = {outcome.statistic:.3g} {sign} threshold {threshold:g}"
    ref_stats, cur_stats = ref.summary, cur.summary
    change, shift = _missing_change(ref_stats, cur_stats, params)
    categories = outcome.as_categories
    if categories and ref.labels is None:
        ref, cur = as_categories(ref), as_categories(cur)
    unseen, unseen_share = unseen_categories(ref, cur) if categories else ([], 0.0)
    vanished, vanished_share = vanished_categories(ref, cur) if categories else ([], 0.0)
    if categories:
        histogram = category_histogram(ref, cur)
    else:
        assert ref.values is not None and cur.values is not None
        histogram = numeric_histogram(ref.values, cur.values)
    return ColumnDrift(
        column=name,
        role=role,
        kind=kind,
        verdict="drift" if drift else "no_drift",
        reason=reason,
        method=outcome.method,
        method_reason=outcome.method_reason,
        statistic_name=STATISTIC_NAMES[outcome.method],
        statistic=finite(outcome.statistic),
        p_value=outcome.p_value,
        threshold=threshold,
        effect_size_name=outcome.effect_name,
        effect_size=finite(outcome.effect),
        severity=min(severity, 1e6),  # inf statistic: past any threshold, still a number
        reference=ref_stats,
        current=cur_stats,
        unseen_categories=unseen[:UNSEEN_LISTED],
        unseen_count=len(unseen),
        unseen_share=unseen_share,
        vanished_categories=vanished[:UNSEEN_LISTED],
        vanished_count=len(vanished),
        vanished_share=vanished_share,
        histogram=histogram,
        missing_rate_change=change,
        missing_shift=shift,
    )


def _insufficient(
    name: str, role: Role, kind: ColumnKind, ref: Side, cur: Side, why: str, params: DriftParams
) -> ColumnDrift:
    ref_stats, cur_stats = ref.summary, cur.summary
    change, shift = _missing_change(ref_stats, cur_stats, params)
    return ColumnDrift(
        column=name,
        role=role,
        kind=kind,
        verdict="insufficient_data",
        reason=why,
        method_reason="not tested",
        reference=ref_stats,
        current=cur_stats,
        missing_rate_change=change,
        missing_shift=shift,
    )


def _mismatch(
    name: str,
    ref_array: pa.ChunkedArray | None,
    cur_array: pa.ChunkedArray | None,
    ref_kind: str,
    cur_kind: str,
    role: Role,
) -> ColumnDrift:
    def side(array: pa.ChunkedArray | None) -> SideStats:
        if array is None:
            return absent_side()
        missing = array.null_count
        rows = len(array)
        return SideStats(
            dtype=str(array.type),
            rows=rows,
            missing=missing,
            missing_rate=missing / rows if rows else 0.0,
        )

    if ref_array is None:
        why = "only in the current data"
    elif cur_array is None:
        why = "missing from the current data"
    else:
        why = (
            f"reference is {ref_array.type} ({ref_kind}), current is {cur_array.type} ({cur_kind})"
        )
    kind = _kind(ref_kind)
    return ColumnDrift(
        column=name,
        role=role,
        kind=kind,
        verdict="schema_mismatch",
        reason=why,
        method_reason="not tested",
        reference=side(ref_array),
        current=side(cur_array),
    )
