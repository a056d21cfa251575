"""The Grafana dashboard of the monitoring bundle, generated with grafana-foundation-sdk.

`mlops init` copies the bundle (`templates/project/monitoring/`: the Prometheus scrape config,
the alert rules and their tests, this dashboard and Grafana's provisioning files) into every
project; this repository's `monitoring/` is the same files. The dashboard JSON is committed:
regenerate it after editing `PANELS` (a test asserts the committed file is what this writes):

    python -m mlops.monitoring_bundle          # writes the template's dashboard.json
    python -m mlops.monitoring_bundle --repo .  # ... and copies the bundle to ./monitoring

Needs `grafana-foundation-sdk` (the dev extra pins the build for Grafana 11.6); nothing on the
CLI's import path imports this module.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: The bundle's folder in the package's project templates.
TEMPLATE_DIR = Path(__file__).parent / "templates" / "project" / "monitoring"
DASHBOARD_FILE = TEMPLATE_DIR / "grafana" / "dashboard.json"
DASHBOARD_UID = "mlops-serve"
#: The Prometheus data source the provisioning file creates (the `datasource` variable's default).
DATASOURCE_UID = "mlops-prometheus"
#: The Grafana version the pinned SDK build targets.
GRAFANA_VERSION = "11.6"
JOB = 'job=~"$job"'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class PanelSpec:
    title: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "stat"] = "timeseries"
    unit: str = "short"
    description: str = ""
    width: int = 8
    #: stat panels: value -> (text, color).
    mappings: dict[str, tuple[str, str]] = field(default_factory=dict)
    stacked: bool = False
    #: stat panels: show the series' name (its legend) instead of the value.
    name_only: bool = False


def _quantiles(metric: str, selector: str, by: str = "le") -> tuple[Query, ...]:
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
            f"p{round(q * 100)}",
        )
        for q in (0.5, 0.9, 0.99)
    )


FLAG_OK_BAD = {"0": ("no", "green"), "1": ("yes", "red")}

#: Rows of panels, top to bottom.
PANELS: dict[str, list[PanelSpec]] = {
    "Traffic": [
        PanelSpec(
            "Requests per second by route and status",
            (
                Query(
                    f"sum by (route, status) (rate(mlops_requests_total{{{JOB}}}[{RATE}]))",
                    "{{route}} {{status}}",
                ),
            ),
            unit="reqps",
        ),
        PanelSpec(
            "Errors: 5xx share of requests",
            (
                Query(
                    f'(sum(rate(mlops_requests_total{{{JOB}, route!="/metrics", status=~"5.."}}[{RATE}]))'
                    " or vector(0))"
                    f' / sum(rate(mlops_requests_total{{{JOB}, route!="/metrics"}}[{RATE}]))',
                    "5xx share",
                ),
            ),
            unit="percentunit",
            description="Server errors over all requests but Prometheus's scrapes "
            "(alert MlopsHighErrorRate above 5%).",
        ),
        PanelSpec(
            "Requests in flight",
            (Query(f"sum(mlops_requests_in_flight{{{JOB}}})", "in flight"),),
        ),
    ],
    "Latency": [
        PanelSpec(
            "/invocations latency (quantiles from the histogram)",
            _quantiles("mlops_request_duration_seconds", f'{JOB}, route="/invocations"'),
            unit="s",
            width=12,
        ),
        PanelSpec(
            "p99 latency by route",
            (
                Query(
                    "histogram_quantile(0.99, sum by (route, le) "
                    f"(rate(mlops_request_duration_seconds_bucket{{{JOB}}}[{RATE}])))",
                    "{{route}}",
                ),
            ),
            unit="s",
            width=12,
        ),
    ],
    "Model": [
        PanelSpec(
            "Model served",
            (
                Query(
                    f"max by (name, version, alias, run_id) (mlops_model_info{{{JOB}}}) == 1",
                    "{{name}} v{{version}} @{{alias}}",
                ),
            ),
            kind="stat",
            description="The registered model version each server scores with (mlops_model_info).",
        ),
        PanelSpec(
            "Model ready",
            (Query(f"min(mlops_model_ready{{{JOB}}})", "ready"),),
            kind="stat",
            mappings={"0": ("not ready", "red"), "1": ("ready", "green")},
        ),
        PanelSpec(
            "Model loads",
            (
                Query(
                    f"sum by (result) (increase(mlops_model_loads_total{{{JOB}}}[{RATE}]))",
                    "{{result}}",
                ),
            ),
            description="The first load and every alias move; a failure keeps the old model.",
        ),
    ],
    "Scoring": [
        PanelSpec(
            "Rows scored per second",
            (
                Query(f"sum(rate(mlops_rows_scored_total{{{JOB}}}[{RATE}]))", "rows"),
                Query(f"sum(rate(mlops_model_calls_total{{{JOB}}}[{RATE}]))", "model calls"),
                Query(
                    f"sum(rate(mlops_input_rows_with_missing_total{{{JOB}}}[{RATE}]))",
                    "rows with a missing value",
                ),
            ),
        ),
        PanelSpec(
            "Predictions by label (classifiers)",
            (
                Query(
                    f"sum by (label) (rate(mlops_predictions_total{{{JOB}}}[{RATE}]))",
                    "{{label}}",
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Prediction shares: last hour vs last day",
            (
                Query(f"mlops:prediction_share:ratio_1h{{{JOB}}}", "{{label}} 1h"),
                Query(f"mlops:prediction_share:ratio_1d{{{JOB}}}", "{{label}} 1d"),
            ),
            unit="percentunit",
            description="Recorded by the rules; alert MlopsPredictionShareShift above 20 points.",
        ),
        PanelSpec(
            "Predicted values (regressors, quantiles from the histogram)",
            _quantiles("mlops_prediction_value", JOB),
            width=24,
        ),
    ],
    "Drift (mlops monitor)": [
        PanelSpec(
            "Data drift",
            (Query(f"max(mlops_monitor_drift_detected{{{JOB}}})", "drift"),),
            kind="stat",
            width=4,
            mappings=FLAG_OK_BAD,
        ),
        PanelSpec(
            "Prediction drift",
            (Query(f"max(mlops_monitor_prediction_drift_detected{{{JOB}}})", "drift"),),
            kind="stat",
            width=4,
            mappings=FLAG_OK_BAD,
        ),
        PanelSpec(
            "Live gates",
            (Query(f"min(mlops_monitor_live_gate_passed{{{JOB}}})", "gates"),),
            kind="stat",
            width=4,
            mappings={"0": ("failed", "red"), "1": ("passed", "green")},
        ),
        PanelSpec(
            "Drifted columns",
            (
                Query(f"max(mlops_monitor_drifted_columns{{{JOB}}})", "columns"),
                Query(f"max(mlops_monitor_drift_share{{{JOB}}})", "share"),
            ),
            kind="stat",
            width=4,
        ),
        PanelSpec(
            "Rows in the last run",
            (Query(f"max(mlops_monitor_rows{{{JOB}}})", "rows"),),
            kind="stat",
            width=4,
        ),
        PanelSpec(
            "Since the last run",
            (Query(f"time() - max(mlops_monitor_last_run_timestamp_seconds{{{JOB}}})", "age"),),
            kind="stat",
            unit="s",
            width=4,
        ),
        PanelSpec(
            "Drift over time",
            (
                Query(f"max(mlops_monitor_drift_share{{{JOB}}})", "share of drifted columns"),
                Query(f"max(mlops_monitor_prediction_drift{{{JOB}}})", "prediction drift"),
            ),
            width=24,
        ),
    ],
    "Traffic capture": [
        PanelSpec(
            "Captured rows per second",
            (
                Query(f"sum(rate(mlops_capture_rows_total{{{JOB}}}[{RATE}]))", "captured"),
                Query(f"sum(rate(mlops_capture_dropped_rows_total{{{JOB}}}[{RATE}]))", "dropped"),
            ),
            width=12,
        ),
        PanelSpec(
            "Capture queue",
            (Query(f"sum(mlops_capture_queue_rows{{{JOB}}})", "rows queued"),),
            width=12,
        ),
    ],
    "Process": [
        PanelSpec(
            "CPU",
            (
                Query(
                    f"sum by (instance) (rate(process_cpu_seconds_total{{{JOB}}}[{RATE}]))",
                    "{{instance}}",
                ),
            ),
            unit="percentunit",
            description="CPU seconds per second (1 = one core); all workers of a server summed.",
        ),
        PanelSpec(
            "Resident memory",
            (Query(f"sum by (instance) (process_resident_memory_bytes{{{JOB}}})", "{{instance}}"),),
            unit="bytes",
        ),
        PanelSpec(
            "Open file descriptors",
            (Query(f"sum by (instance) (process_open_fds{{{JOB}}})", "{{instance}}"),),
        ),
    ],
}


def _panel(spec: PanelSpec, panel_id: int) -> Any:
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.models import common, dashboard

    source = dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}")
    panel: Any
    if spec.kind == "stat":
        mode = (
            common.BigValueTextMode.NAME
            if spec.name_only
            else common.BigValueTextMode.VALUE_AND_NAME
        )
        panel = stat.Panel().text_mode(mode)
        panel = panel.graph_mode(common.BigValueGraphMode.NONE).reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"])
        )
        if spec.mappings:
            options = {
                value: dashboard.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, (text, color)) in enumerate(spec.mappings.items())
            }
            panel = panel.mappings([dashboard.ValueMap(options)])
            panel = panel.color_mode(common.BigValueColorMode.BACKGROUND)
    else:
        panel = timeseries.Panel().fill_opacity(10)
        if spec.stacked:
            panel = panel.stacking(
                common_builders.StackingConfig().mode(common.StackingMode.NORMAL)
            )
    panel = panel.id(panel_id).title(spec.title).unit(spec.unit).datasource(source).span(spec.width)
    panel = panel.height(8 if spec.kind == "timeseries" else 5)
    if spec.description:
        panel = panel.description(spec.description)
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(source)
        panel = panel.with_target(target.legend_format(query.legend or "__auto"))
    return panel


def build() -> Any:
    """The dashboard model (grafana_foundation_sdk.models.dashboard.Dashboard)."""
    from grafana_foundation_sdk.builders import dashboard as builders
    from grafana_foundation_sdk.models import dashboard

    board = (
        builders.Dashboard("mlops serve")
        .uid(DASHBOARD_UID)
        .description(
            "Requests, latency, scoring, the served model, drift from `mlops monitor`, traffic "
            "capture and the process, for `mlops serve` scraped by Prometheus."
        )
        .tags(["mlops", "generated"])
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(
            builders.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .current(dashboard.VariableOption(text="Prometheus", value=DATASOURCE_UID))
        )
        .with_variable(
            builders.QueryVariable("job")
            .label("Job")
            .datasource(dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}"))
            .query("label_values(mlops_model_ready, job)")
            .refresh(dashboard.VariableRefresh.ON_DASHBOARD_LOAD)
            .current(dashboard.VariableOption(text="mlops", value="mlops"))
        )
    )
    ids = iter(range(1, 1000))
    for row, specs in PANELS.items():
        board = board.with_row(builders.Row(row).id(next(ids)))
        for spec in specs:
            board = board.with_panel(_panel(spec, next(ids)))
    return board.build()


def dashboard_json() -> str:
    """The dashboard as committed: sorted keys, two-space indent, a final newline."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    return str(JSONEncoder(sort_keys=True, indent=2).encode(build())) + "\n"


def write(repo: Path | None = None) -> None:
    """Write the template's dashboard.json; with `repo`, copy the bundle to `repo/monitoring`."""
    DASHBOARD_FILE.write_text(dashboard_json(), encoding="utf-8")
    if repo is not None:
        shutil.copytree(TEMPLATE_DIR, repo / "monitoring", dirs_exist_ok=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    write(Path(args[args.index("--repo") + 1]) if "--repo" in args else None)
