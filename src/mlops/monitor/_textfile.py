"""The monitor's gauges as a Prometheus textfile (node-exporter's textfile collector reads it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: Gauge name -> help text. Values missing from a run are left out of the file.
GAUGES: dict[str, str] = {
    "mlops_monitor_drift_detected": "1 when the last monitor run found dataset drift.",
    "mlops_monitor_drift_share": "Share of tested feature columns that drifted.",
    "mlops_monitor_drifted_columns": "Feature columns that drifted.",
    "mlops_monitor_prediction_drift_detected": "1 when the model's predictions drifted.",
    "mlops_monitor_prediction_drift": "Distance between reference and live predictions.",
    "mlops_monitor_live_gate_passed": "1 when live metrics (from labels) pass the gate.",
    "mlops_monitor_rows": "Captured rows the last monitor run checked.",
    "mlops_monitor_last_run_timestamp_seconds": "When the last monitor run finished (Unix time).",
}


def write_textfile(path: Path, values: Mapping[str, float | None]) -> Path:
    """Write the gauges atomically (prometheus_client writes a temp file and renames it)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    for name, help_text in GAUGES.items():
        value = values.get(name)
        if value is not None:
            Gauge(name, help_text, registry=registry).set(float(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path
