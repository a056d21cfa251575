"""`mlops monitor` end to end: serve with capture, send traffic, check it (and its labels)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from .serving import Server, make_project, register, sample

GAUGES = (
    "mlops_monitor_drift_detected",
    "mlops_monitor_drift_share",
    "mlops_monitor_drifted_columns",
    "mlops_monitor_prediction_drift_detected",
    "mlops_monitor_prediction_drift",
    "mlops_monitor_rows",
    "mlops_monitor_last_run_timestamp_seconds",
)


def _monitor(project: Path, *args: str) -> tuple[int, str, str]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cli.helpers import run_mlops

    result = run_mlops("monitor", *args, cwd=project)
    return result.returncode, result.stdout, result.stderr


def _send(project: Path, frame: pd.DataFrame, prefix: str) -> dict[str, str]:
    """One request per row; the request id -> the prediction served."""
    served: dict[str, str] = {}
    server = Server.start(project)
    try:
        server.wait_ready()
        records = json.loads(frame.to_json(orient="records"))
        for i, record in enumerate(records):
            request = f"{prefix}-{i:04d}"
            reply = server.request(
                "POST",
                "/invocations",
                json.dumps({"dataframe_records": [record]}).encode(),
                {"Content-Type": "application/json", "X-Request-ID": request},
            )
            assert reply.status == 200, reply.body
            served[request] = reply.json()["predictions"][0]
    finally:
        assert server.stop() == 0, server.output()
    return served


def _gauges(path: Path) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        s.name: s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


@pytest.fixture
def project(trained_template: Path, tmp_path: Path) -> Path:
    path = make_project(
        trained_template, tmp_path / "project", capture={"enabled": True, "rotate_rows": 50}
    )
    register(path)
    return path


@pytest.mark.slow
def test_monitor_passes_like_traffic_fails_shifted_traffic_and_gates_live_labels(
    project: Path,
) -> None:
    test = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    features = test.drop(columns=["species"]).reset_index(drop=True)

    code, _, stderr = _monitor(project)
    assert code == 1
    assert "no captured traffic" in stderr and "data/capture" in stderr

    served = _send(project, features, "like")
    code, stdout, stderr = _monitor(project, "--json")
    assert code == 0, (stdout, stderr)
    summary = json.loads(stdout)
    assert summary["capture"]["rows"] == len(features)
    assert summary["drift"]["verdict"] == "no_drift"
    assert summary["drift"]["prediction_drift"] is False
    assert summary["live"] is None
    runs = sorted((project / "reports" / "monitor").glob("2*"))
    assert len(runs) == 1
    assert {p.name for p in runs[0].iterdir()} == {"drift.json", "drift.html", "monitor.json"}
    report = json.loads((runs[0] / "drift.json").read_text())
    assert report["current"]["rows"] == len(features)
    assert report["prediction"], report["prediction_note"]
    textfile = project / "reports" / "monitor" / "monitor.prom"
    gauges = _gauges(textfile)
    assert set(GAUGES) <= set(gauges)
    assert "mlops_monitor_live_gate_passed" not in gauges
    assert (gauges["mlops_monitor_drift_detected"], gauges["mlops_monitor_rows"]) == (0, 69.0)

    # Labels joined by request id: the true species pass the gate, wrong ones fail it.
    truth = pd.DataFrame(
        {"request_id": [f"like-{i:04d}" for i in range(len(test))], "species": test["species"]}
    )
    truth.to_csv(project / "labels.csv", index=False)
    code, stdout, stderr = _monitor(project, "--labels", "labels.csv", "--json")
    assert code == 0, (stdout, stderr)
    live = json.loads(stdout)["live"]
    assert live["joined_rows"] == len(test)
    assert live["gate"]["passed"] is True
    assert live["metrics"]["balanced_accuracy"] >= 0.9
    assert "roc_auc" in live["metrics"] and "balanced_accuracy" in live["test_metrics"]
    served_accuracy = (
        pd.Series([served[r] for r in truth["request_id"]]) == truth["species"]
    ).mean()
    assert live["metrics"]["accuracy"] == pytest.approx(served_accuracy, abs=1e-6)
    assert _gauges(textfile)["mlops_monitor_live_gate_passed"] == 1.0

    order = sorted(set(test["species"]))
    wrong = truth.assign(species=truth["species"].map(lambda s: order[order.index(s) - 1]))
    wrong.to_parquet(project / "wrong.parquet")
    code, stdout, stderr = _monitor(project, "--labels", "wrong.parquet")
    assert code == 3, (stdout, stderr)
    assert "live gate FAILED" in stdout
    assert _gauges(textfile)["mlops_monitor_live_gate_passed"] == 0.0

    code, _, stderr = _monitor(project, "--labels", "labels.csv", "--label-key", "nope")
    assert code == 1 and "nope" in stderr

    # Shifted traffic: the last rows only (--window) drift; the gauges reach /metrics too.
    shifted = features.assign(
        bill_length_mm=features["bill_length_mm"] + 15,
        flipper_length_mm=features["flipper_length_mm"] * 1.3,
        body_mass_g=features["body_mass_g"] * 1.6,
        bill_depth_mm=features["bill_depth_mm"] - 4,
    )
    _send(project, shifted, "shifted")
    code, stdout, stderr = _monitor(project, "--window", str(len(shifted)), "--json")
    assert code == 3, (stdout, stderr)
    summary = json.loads(stdout)
    assert summary["capture"]["rows"] == len(shifted)
    assert summary["drift"]["verdict"] == "drift"
    assert summary["drift"]["drifted"] >= 3
    assert _gauges(textfile)["mlops_monitor_drift_detected"] == 1.0

    code, stdout, stderr = _monitor(project, "--since", "1h", "--json")
    assert json.loads(stdout)["capture"]["rows"] == 2 * len(features)
    code, _, stderr = _monitor(project, "--since", "soon")
    assert code == 1 and "--since" in stderr

    server = Server.start(project)
    try:
        server.wait_ready()
        text = server.metrics()
    finally:
        server.stop()
    for name in GAUGES:
        assert f"\n{name} " in text, name
    assert sample(text, "mlops_monitor_drift_detected") == 1.0
