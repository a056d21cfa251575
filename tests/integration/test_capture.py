"""`serve.capture` on a real `mlops serve`: sampled rows and predictions land in Parquet files."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from .serving import Server, make_project, process_env, register, sample

KEY = "capture-test-key-0123456789abcdef"
PERSONAL = "island"


def _records(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_records": json.loads(frame.to_json(orient="records"))})


def _capture_project(template: Path, destination: Path, **capture: Any) -> Path:
    path = make_project(template, destination, capture={"enabled": True, **capture})
    register(path)
    return path


def _rows(project: Path) -> pd.DataFrame:
    frame = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    return frame.drop(columns=["species"]).reset_index(drop=True)


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("capture-*.parquet"))


def _read(directory: Path) -> pd.DataFrame:
    files = _files(directory)
    assert files, f"no capture files in {directory}"
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def test_sampled_rows_and_predictions_are_captured_with_personal_data_hashed(
    trained_template: Path, tmp_path: Path
) -> None:
    from mlops.data.pii import keyed_hash
    from mlops.serve.capture import sampled

    project = _capture_project(
        trained_template, tmp_path / "project", sample_rate=0.5, rotate_rows=7
    )
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["pii"] = {PERSONAL: "keep"}  # a personal column the model still uses
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    rows = _rows(project)
    server = Server.start(project, env={**process_env(), "MLOPS_PII_KEY": KEY})
    sent: dict[str, tuple[pd.DataFrame, list[Any]]] = {}
    try:
        server.wait_ready()
        for i in range(40):
            batch = rows.iloc[[i % len(rows)]] if i % 4 else rows.iloc[i : i + 3]
            request = f"req-{i:03d}"
            reply = server.request(
                "POST",
                "/invocations",
                _records(batch).encode(),
                {"Content-Type": "application/json", "X-Request-ID": request},
            )
            assert reply.status == 200, reply.body
            sent[request] = (batch.reset_index(drop=True), reply.json()["predictions"])
    finally:
        assert server.stop() == 0, server.output()
    captured = _read(project / "data" / "capture")
    wanted = sorted(r for r in sent if sampled(r, 0.5))
    assert 0 < len(wanted) < len(sent)  # the sample is a real subset
    assert sorted(set(captured["_request_id"])) == wanted
    assert len(captured) == sum(len(sent[r][0]) for r in wanted)
    assert len(_files(project / "data" / "capture")) >= len(captured) // 7
    for request, group in captured.groupby("_request_id"):
        batch, predictions = sent[str(request)]
        group = group.sort_values("_row")
        assert group["prediction"].tolist() == predictions
        assert group["bill_length_mm"].tolist() == pytest.approx(batch["bill_length_mm"].tolist())
        expected = keyed_hash(batch[PERSONAL].astype(object), KEY.encode()).tolist()
        assert group[PERSONAL].tolist() == expected
    assert set(captured["_model_version"]) == {"1"}
    assert set(captured["_model_name"]) == {"penguins-classifier"}
    assert str(captured["_timestamp"].dtype).startswith("datetime64") and "UTC" in str(
        captured["_timestamp"].dtype
    )
    raw = {str(v) for v in rows[PERSONAL].dropna().unique()}
    for path in _files(project / "data" / "capture"):
        content = path.read_bytes()
        assert not any(value.encode() in content for value in raw), path


def test_personal_values_are_redacted_without_a_key(trained_template: Path, tmp_path: Path) -> None:
    project = _capture_project(trained_template, tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["pii"] = {PERSONAL: "keep"}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in process_env().items() if not k.startswith("MLOPS_PII_KEY")}
    server = Server.start(project, env=env)
    try:
        server.wait_ready()
        assert server.post(_records(_rows(project).head(5))).status == 200
        big = pd.concat([_rows(project)] * 10, ignore_index=True)
        body = _records(big)
        assert len(body) > 64 * 1024  # scored on the worker thread: captured all the same
        reply = server.post(body)
        assert reply.status == 200
    finally:
        assert server.stop() == 0
    captured = _read(project / "data" / "capture")
    assert len(captured) == 5 + len(big)
    assert captured[PERSONAL].tolist() == ["<redacted>"] * len(captured)
    offloaded = captured.iloc[5:]
    assert offloaded["prediction"].tolist() == reply.json()["predictions"]
    assert offloaded["_row"].tolist() == list(range(len(big)))


def test_a_failing_disk_drops_rows_but_never_fails_a_request(
    trained_template: Path, tmp_path: Path
) -> None:
    project = _capture_project(
        trained_template, tmp_path / "project", path="blocked", rotate_rows=1
    )
    (project / "blocked").write_text("a file where the capture directory should be\n")
    textfile = project / "reports" / "monitor" / "monitor.prom"
    textfile.parent.mkdir(parents=True, exist_ok=True)
    textfile.write_text("# TYPE mlops_monitor_rows gauge\nmlops_monitor_rows 1234.0\n")
    server = Server.start(project)
    try:
        server.wait_ready()
        rows = _rows(project)
        for i in range(10):
            assert server.post(_records(rows.iloc[[i]])).status == 200
        reply = server.wait_for(
            "/metrics", lambda r: sample(r.body.decode(), "mlops_capture_dropped_rows_total") > 0
        )
        text = reply.body.decode()
        assert sample(text, "mlops_capture_rows_total") == 0
        # The monitor's textfile rides along on /metrics, read fresh; a broken one is ignored.
        assert sample(text, "mlops_monitor_rows") == 1234.0
        textfile.write_text("mlops_monitor_rows {broken\n")
        text = server.metrics()
        assert "mlops_monitor_rows" not in text
        assert sample(text, "mlops_requests_total", route="/invocations", status="200") == 10
    finally:
        server.stop()


def test_a_killed_server_leaves_only_complete_parquet_files(
    trained_template: Path, tmp_path: Path
) -> None:
    project = _capture_project(trained_template, tmp_path / "project", rotate_rows=2)
    capture = project / "data" / "capture"
    server = Server.start(project)
    try:
        server.wait_ready()
        rows = _rows(project)
        deadline = time.monotonic() + 60
        i = 0
        while len(_files(capture)) < 3 and time.monotonic() < deadline:
            assert server.post(_records(rows.iloc[[i % len(rows)]])).status == 200
            i += 1
        for j in range(20):  # more traffic in flight to the writer when the kill lands
            server.post(_records(rows.iloc[[j]]))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
    finally:
        server.stop()
    visible = [p for p in capture.iterdir() if not p.name.startswith(".")]
    assert len(visible) >= 3
    for path in visible:
        assert path.name.startswith("capture-") and path.suffix == ".parquet", path
        assert pq.read_table(path).num_rows == 2  # complete: rotate_rows rows each
    # A temp file of a killed writer (a dead pid) is swept when the next server starts.
    stale = capture / f".{visible[0].name}.{_dead_pid()}.abcd.tmp"
    stale.write_bytes(b"PAR1 half a file")
    server = Server.start(project)
    try:
        server.wait_ready()
        deadline = time.monotonic() + 30
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stale.exists()
    finally:
        server.stop()


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_each_worker_process_writes_its_own_files(trained_template: Path, tmp_path: Path) -> None:
    project = _capture_project(trained_template, tmp_path / "project", rotate_rows=5)
    server = Server.start(project, "--workers", "2")
    try:
        server.wait_ready()
        rows = _rows(project)
        for i in range(30):
            request = f"w-{i:02d}"
            reply = server.request(
                "POST",
                "/invocations",
                _records(rows.iloc[[i]]).encode(),
                {"Content-Type": "application/json", "X-Request-ID": request},
            )
            assert reply.status == 200
        server.wait_for(
            "/metrics", lambda r: sample(r.body.decode(), "mlops_capture_rows_total") >= 25
        )
    finally:
        assert server.stop() == 0, server.output()
    files = _files(project / "data" / "capture")
    pids = {int(f.stem.split("-")[2]) for f in files}
    assert pids and server.process.pid not in pids  # the workers', not the supervisor's
    captured = _read(project / "data" / "capture")
    assert sorted(captured["_request_id"]) == [f"w-{i:02d}" for i in range(30)]
