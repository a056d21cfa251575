"""`run_drift`: resolve both datasets, compare every column (in parallel), decide, write reports."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from mlops import artifacts, progress
from mlops.config import DriftParams
from mlops.data import Schema, load_schema
from mlops.data.identifiers import name_reason
from mlops.drift.columns import compare_column
from mlops.drift.html import render_html
from mlops.drift.prediction import PREDICTION, compare_predictions, prediction_reference
from mlops.drift.reference import (
    Champion,
    ReferenceChoice,
    find_champion,
    resolve_reference,
)
from mlops.drift.report import (
    ColumnDrift,
    DatasetInfo,
    DriftReport,
    IgnoredColumn,
    Role,
    apply_correction,
    by_severity,
    dataset_verdict,
    redact_personal,
    summarise,
)
from mlops.drift.source import TableSource, open_table
from mlops.errors import ConfigError, DataError
from mlops.project import Project
from mlops.tracking import Store

log = logging.getLogger(__name__)

JSON_NAME = "drift.json"
HTML_NAME = "drift.html"
#: The summary numbers alone: what `dvc metrics show` lists (the full report is an output).
SUMMARY_NAME = "drift_summary.json"
#: Columns compared at once; each holds one column of both datasets in memory.
MAX_WORKERS = 4


@dataclass(frozen=True)
class DriftResult:
    report: DriftReport
    json_path: Path
    html_path: Path


def workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _task(
    name: str,
    ref: TableSource,
    cur: TableSource,
    params: DriftParams,
    role: Role,
    detect_ids: bool = True,
) -> Callable[[], ColumnDrift | IgnoredColumn]:
    def run() -> ColumnDrift | IgnoredColumn:
        ref_array = ref.column(name) if name in ref.types else None
        cur_array = cur.column(name) if name in cur.types else None
        return compare_column(name, ref_array, cur_array, params, role, detect_ids=detect_ids)

    return run


def compare_sources(
    reference: TableSource,
    current: TableSource,
    params: DriftParams,
    target: str | None = None,
    skip: Mapping[str, str] | None = None,
    *,
    listed_features: Collection[str] = (),
) -> tuple[list[ColumnDrift], ColumnDrift | None, list[IgnoredColumn], str]:
    """Compare every column of two datasets: features, the target, and ignored columns.

    `skip` names columns never compared, with why (listed among the ignored columns).
    Other columns whose values are a row number, key or free text are ignored too, except
    the `listed_features` of a schema contract. Raises DataError when the datasets share no column.
    """
    common = [name for name in reference.types if name in current.types]
    if not common:
        raise DataError(
            f"no common columns between {reference.path} ({_names(reference)}) "
            f"and {current.path} ({_names(current)})"
        )
    names = list(dict.fromkeys([*reference.types, *current.types]))
    skip = skip or {}
    skipped = [IgnoredColumn(column=n, reason=skip[n]) for n in names if n in skip]
    names = [n for n in names if n not in skip]
    target_note = ""
    if target is not None and target not in common:
        both = {"reference": reference, "current": current}
        present = [side for side, source in both.items() if target in source.types]
        found = f"only in the {present[0]} data" if present else "in neither dataset"
        target_note = f"target {target!r} is {found}: target drift not tested"
        names = [n for n in names if n != target]
    roles: dict[str, Role] = {n: "target" if n == target else "feature" for n in names}
    with (
        progress.task("drift", total=len(names), unit="columns") as step,
        ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="drift") as pool,
    ):
        futures = [
            pool.submit(_task(n, reference, current, params, roles[n], n not in listed_features))
            for n in names
        ]
        for _ in as_completed(futures):
            step.advance()
        results = [future.result() for future in futures]
    features = [r for r in results if isinstance(r, ColumnDrift) and r.role == "feature"]
    targets = [r for r in results if isinstance(r, ColumnDrift) and r.role == "target"]
    ignored = [*skipped, *(r for r in results if isinstance(r, IgnoredColumn))]
    return features, (targets[0] if targets else None), ignored, target_note


def excluded_columns(project: Project, schema: Schema | None) -> dict[str, str]:
    """Columns drift never compares, with why: `drift.exclude`, `data.drop`, and identifier
    columns (row numbers and keys always differ between batches). Without a schema contract,
    identifiers are known by name only."""
    skip: dict[str, str] = {}
    for name in project.params.drift.exclude:
        skip[name] = "listed in drift.exclude"
    for name in project.params.data.drop:
        skip.setdefault(name, "listed in data.drop")
    for name, decision in project.params.data.pii.items():
        if decision != "keep":  # dropped or hashed personal data: nothing to compare
            skip.setdefault(name, f"personal data ({decision} in data.pii)")
    if schema is not None:
        for name, reason in schema.identifiers().items():
            skip.setdefault(name, f"identifier column ({reason})")
        for col in schema.columns:  # dates as text in a CSV: new dates are no drift
            if col.kind == "datetime":
                skip.setdefault(col.name, "datetime values not compared")
    return skip


def _skip_by_name(
    skip: dict[str, str], schema: Schema | None, sources: tuple[TableSource, ...], target: str
) -> dict[str, str]:
    """Without a contract that records roles (none yet, or one written before roles were),
    identifiers are known by their names alone."""
    if schema is not None and any(col.role is not None for col in schema.columns):
        return skip  # the contract says which columns are identifiers
    features = set(schema.features) if schema is not None else set()
    for source in sources:
        for name in source.types:
            reason = name_reason(name)
            if reason is not None and name != target and name not in features:
                skip.setdefault(name, f"identifier column ({reason})")
    return skip


def _names(source: TableSource, limit: int = 8) -> str:
    names = list(source.types)
    shown = ", ".join(names[:limit])
    return shown + (f", ... {len(names) - limit} more" if len(names) > limit else "")


def _kept_personal(project: Project, schema: Schema | None) -> set[str]:
    """Personal columns compared with their raw values (`keep`): their labels are redacted."""
    kept = {n for n, d in project.params.data.pii.items() if d == "keep"}
    if schema is not None:
        kept |= {n for n, d in schema.personal().items() if d != "hash"}
    return kept


def _schema(project: Project) -> Schema | None:
    path = project.settings.paths.schema_file
    return load_schema(path) if path.exists() else None


def _check_columns_config(
    params: DriftParams, reference: TableSource, current: TableSource
) -> None:
    """Columns named in `drift.critical` / `drift.columns` must exist (or be model outputs)."""
    known = {*reference.types, *current.types}
    for option, listed in (("critical", params.critical), ("columns", list(params.columns))):
        for name in listed:
            if name not in known and not name.startswith(PREDICTION):
                raise ConfigError(
                    f"drift.{option}: column {name!r} is in neither dataset "
                    f"(columns: {', '.join(sorted(known)[:12])})"
                )


def _info(
    project: Project, source: TableSource, origin: str, why: str, md5: str | None = None
) -> DatasetInfo:
    return DatasetInfo(
        path=project.relative(source.path.absolute()),
        format=source.format,
        rows=source.rows,
        columns=len(source.types),
        origin=origin,
        origin_reason=why,
        md5=md5,
    )


def build_report(
    project: Project,
    store: Store,
    reference: TableSource,
    current: TableSource,
    *,
    choice: ReferenceChoice | None = None,
    champion: Champion | None = None,
    current_origin: str = "argument",
    current_reason: str = "given",
    started: float | None = None,
    prediction_source: TableSource | None = None,
    prediction_why: str = "",
) -> DriftReport:
    """Compare two opened datasets and decide (no files written).

    The champion's predictions on `current` are compared with its predictions on
    `prediction_source` (default: see `prediction_reference`: held-out rows, not training rows).
    """
    start = time.perf_counter() if started is None else started
    params = project.params.drift
    _check_columns_config(params, reference, current)
    schema = _schema(project)
    target = schema.target if schema is not None else project.params.data.target
    skip = _skip_by_name(excluded_columns(project, schema), schema, (reference, current), target)
    listed = set(schema.features) if schema is not None else set()
    features, target_result, ignored, target_note = compare_sources(
        reference, current, params, target, skip, listed_features=listed
    )
    champion = champion or Champion(None, "prediction drift not requested")
    choice = choice or ReferenceChoice(reference.path, "argument", "given")
    scored, scored_why = (
        (prediction_source, prediction_why)
        if prediction_source is not None
        else prediction_reference(project, store, champion, choice, reference)
    )
    prediction, prediction_note = compare_predictions(
        project, store, champion, schema, scored, current, scored_why
    )
    corrected = apply_correction(
        [*features, *([target_result] if target_result else []), *prediction], params
    )
    corrected = redact_personal(corrected, _kept_personal(project, schema))
    features = by_severity([c for c in corrected if c.role == "feature"])
    target_result = next((c for c in corrected if c.role == "target"), None)
    prediction = by_severity([c for c in corrected if c.role == "prediction"])
    extra = [*([target_result] if target_result else []), *prediction]
    verdict, reasons, critical = dataset_verdict(features, extra, params)
    ref_info = _info(project, reference, choice.origin, choice.reason, choice.md5)
    if champion.label is not None:
        ref_info = ref_info.model_copy(update={"champion": champion.label})
    summary = summarise(
        verdict,
        features,
        target_result,
        prediction,
        params,
        critical,
        (reference.rows, current.rows),
        time.perf_counter() - start,
    )
    return DriftReport(
        verdict=verdict,
        reasons=reasons,
        summary=summary,
        reference=ref_info,
        current=_info(project, current, current_origin, current_reason),
        settings=params.model_dump(mode="json"),
        columns=features,
        target=target_result,
        target_note=target_note,
        prediction=prediction,
        prediction_note=prediction_note,
        ignored=ignored,
    )


def run_drift(
    project: Project,
    store: Store,
    reference: Path | None = None,
    current: Path | None = None,
    json_path: Path | None = None,
    html_path: Path | None = None,
) -> DriftResult:
    """Stage: compare the reference (default: the champion's training data) with the current
    batch (default: `drift.current`), write the JSON and HTML reports, return the report."""
    start = time.perf_counter()
    champion = find_champion(store)
    choice = resolve_reference(project, store, reference, champion)
    log.debug("reference %s: %s", choice.path, choice.reason)  # the summary says it too
    current_path = current if current is not None else project.resolve(project.params.drift.current)
    current_origin = "argument" if current is not None else "params"
    current_reason = "given with --current" if current is not None else "drift.current in params"
    ref_source = open_table(choice.path, choice.suffix)
    cur_source = open_table(current_path)
    report = build_report(
        project,
        store,
        ref_source,
        cur_source,
        choice=choice,
        champion=champion,
        current_origin=current_origin,
        current_reason=current_reason,
        started=start,
    )
    reports = project.settings.paths.reports
    json_target = json_path or reports / JSON_NAME
    html_target = html_path or reports / HTML_NAME
    artifacts.write_json(json_target, report.to_json())
    artifacts.write_report(html_target, render_html(report))
    if json_path is None:
        summary = report.summary
        artifacts.write_json(
            reports / SUMMARY_NAME,
            {
                "drift": summary.drift,
                "failed": summary.failed,
                "drifted": summary.drifted,
                "tested": summary.tested,
                "share_drifted": summary.share_drifted,
                "prediction_drift": summary.prediction_drift,
                "target_drift": summary.target_drift,
            },
        )
    return DriftResult(report, json_target, html_target)
