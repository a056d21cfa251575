"""`run_monitor`: drift of captured traffic against the champion's reference, live metrics when
labels arrive, the drift reports, a summary and the Prometheus textfile."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops import artifacts
from mlops.data import Schema, load_schema
from mlops.drift import DriftReport, find_champion, open_table, render_html, resolve_reference
from mlops.drift.frames import table_source
from mlops.errors import MlopsError
from mlops.monitor._capture import read_capture
from mlops.monitor._live import ROW, LiveMetrics, join_labels, live_metrics, read_labels
from mlops.monitor._textfile import write_textfile
from mlops.project import Project
from mlops.tracking import Store

log = logging.getLogger(__name__)

JSON_NAME = "drift.json"
HTML_NAME = "drift.html"
SUMMARY_NAME = "monitor.json"
PREDICTION = "prediction"
#: Columns the server adds to each captured row (not model inputs).
META = ("_model_version", "_model_name", "_timestamp", "_request_id", ROW)


@dataclass(frozen=True)
class MonitorResult:
    report: DriftReport
    live: LiveMetrics | None
    summary: dict[str, Any]
    directory: Path
    textfile: Path

    @property
    def prediction_drift(self) -> bool:
        return bool(self.report.summary.prediction_drift)

    @property
    def drift(self) -> bool:
        return self.report.drift or self.prediction_drift

    @property
    def passed(self) -> bool:
        return not self.drift and (self.live is None or self.live.passed)


def _schema(project: Project) -> Schema | None:
    path = project.settings.paths.schema_file
    return load_schema(path) if path.exists() else None


def _hashed_in_capture(project: Project, schema: Schema | None) -> set[str]:
    """Personal columns whose raw values the reference holds but the capture only hashes."""
    kept = {n for n, d in project.params.data.pii.items() if d == "keep"}
    if schema is not None:
        kept |= {n for n, d in schema.personal().items() if d != "hash"}
    return kept


def _test_metrics(store: Store, run_id: str | None) -> dict[str, float]:
    if run_id is None:
        return {}
    try:
        metrics = store.get_run(run_id).data.metrics
    except MlopsError as exc:
        log.warning("cannot read the champion's test metrics: %s", exc)
        return {}
    return {
        str(k).removeprefix("test_"): float(v)
        for k, v in metrics.items()
        if str(k).startswith("test_")
    }


def _prediction_distance(report: DriftReport) -> float | None:
    for column in report.prediction:
        if column.column == PREDICTION:
            value = column.effect_size if column.effect_size is not None else column.statistic
            return value
    return None


def _directory(base: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    directory = base / stamp
    n = 1
    while directory.exists():
        n += 1
        directory = base / f"{stamp}-{n}"
    return directory


def run_monitor(
    project: Project,
    store: Store,
    *,
    since: timedelta | None = None,
    window: int | None = None,
    labels: Path | None = None,
    label_key: str | None = None,
) -> MonitorResult:
    """Check captured traffic with the drift engine of `mlops drift` (and live metrics when
    labels are given); write reports under `monitor.reports/<UTC time>/` and the textfile."""
    start = time.perf_counter()
    now = datetime.now(UTC)
    capture_dir = project.resolve(project.settings.serve.capture.path)
    table, files = read_capture(capture_dir, since=since, window=window, now=now)
    schema = _schema(project)
    champion = find_champion(store)
    choice = resolve_reference(project, store, None, champion)
    reference = open_table(choice.path, choice.suffix)
    hidden = _hashed_in_capture(project, schema)
    inputs = [n for n in table.column_names if n not in (*META, PREDICTION) and n not in hidden]
    shown = project.relative(capture_dir)
    current = table_source(table.select(inputs), capture_dir, "capture")
    filters = [f"since {since}"] if since is not None else []
    filters += [f"last {window} rows"] if window is not None else []
    report = _build(project, store, reference, current, choice, champion, start, shown, files)
    report = report.model_copy(
        update={
            "current": report.current.model_copy(
                update={
                    "origin_reason": f"{table.num_rows} captured rows from {files} files in "
                    f"{shown}" + (f" ({', '.join(filters)})" if filters else "")
                }
            )
        }
    )
    live = None
    if labels is not None:
        live = _live(project, store, table.to_pandas(), labels, label_key, schema, champion)
    directory = _directory(project.resolve(project.settings.monitor.reports), now)
    artifacts.write_json(directory / JSON_NAME, report.to_json())
    artifacts.write_text(directory / HTML_NAME, render_html(report))
    summary = report.summary
    distance = _prediction_distance(report)
    gauges: dict[str, float | None] = {
        "mlops_monitor_drift_detected": float(report.drift),
        "mlops_monitor_drift_share": summary.share_drifted,
        "mlops_monitor_drifted_columns": float(summary.drifted),
        "mlops_monitor_prediction_drift_detected": (
            None if summary.prediction_drift is None else float(summary.prediction_drift)
        ),
        "mlops_monitor_prediction_drift": distance,
        "mlops_monitor_live_gate_passed": None if live is None else float(live.passed),
        "mlops_monitor_rows": float(table.num_rows),
        "mlops_monitor_last_run_timestamp_seconds": time.time(),
    }
    record: dict[str, Any] = {
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "capture": {"path": shown, "files": files, "rows": table.num_rows},
        "since": None if since is None else since.total_seconds(),
        "window": window,
        "champion": champion.label,
        "reference": report.reference.origin_reason,
        "drift": {
            "verdict": report.verdict,
            "reasons": report.reasons,
            "share_drifted": summary.share_drifted,
            "drifted": summary.drifted,
            "tested": summary.tested,
            "prediction_drift": summary.prediction_drift,
            "prediction_distance": distance,
            "prediction_note": report.prediction_note,
        },
        "live": None if live is None else live.model_dump(mode="json"),
        "passed": not (report.drift or bool(summary.prediction_drift))
        and (live is None or live.passed),
        "gauges": {k: v for k, v in gauges.items() if v is not None},
        "reports": {"json": JSON_NAME, "html": HTML_NAME},
        "seconds": round(time.perf_counter() - start, 3),
    }
    artifacts.write_json(directory / SUMMARY_NAME, record)
    textfile = write_textfile(project.resolve(project.settings.serve.monitor_textfile), gauges)
    return MonitorResult(report, live, record, directory, textfile)


def _build(
    project: Project,
    store: Store,
    reference: Any,
    current: Any,
    choice: Any,
    champion: Any,
    start: float,
    shown: str,
    files: int,
) -> DriftReport:
    from mlops.drift import build_report

    return build_report(
        project,
        store,
        reference,
        current,
        choice=choice,
        champion=champion,
        current_origin="capture",
        current_reason=f"captured traffic in {shown} ({files} files)",
        started=start,
    )


def _live(
    project: Project,
    store: Store,
    captured: Any,
    labels: Path,
    label_key: str | None,
    schema: Schema | None,
    champion: Any,
) -> LiveMetrics:
    from mlops import registry

    target = schema.target if schema is not None else project.params.data.target
    joined, how = join_labels(captured, read_labels(labels), labels, target, label_key)
    model = None
    run_id = None
    if champion.info is not None:
        run_id = champion.info.run_id
        try:
            model = registry.load_model(
                store, champion.info.uri, allow_unsafe=project.allow_unsafe_model
            ).model
        except MlopsError as exc:
            log.warning("live probability metrics skipped: %s", exc)
    return live_metrics(
        joined,
        project.params.data.task,
        project.params.gate.metrics,
        _test_metrics(store, run_id),
        labels,
        how,
        champion=model,
        features=list(schema.features) if schema is not None else None,
    )
