"""Structured logs of real `mlops` processes: a server with `MLOPS_LOG_FORMAT=json` (request ids,
one access line per request, nothing but JSON on stderr), the same server's text lines, and
`mlops --log-format json` commands (the run id of `train`, errors as JSON lines)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cli.helpers import run_mlops

from .serving import Server, feature_rows, make_project, process_env, raw_exchange, register

HEX_ID = re.compile(r"[0-9a-f]{32}")
REQUIRED = ("timestamp", "level", "logger", "message", "command")


@pytest.fixture(scope="module")
def project(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_project(trained_template, tmp_path_factory.mktemp("serve-logs") / "project")
    register(path)
    return path


@pytest.fixture(scope="module")
def version(project: Path) -> str:
    return register(project)  # a second version, champion: the server serves this one


@pytest.fixture(scope="module")
def server(project: Path, version: str) -> Iterator[Server]:
    server = Server.start(project, env={**process_env(), "MLOPS_LOG_FORMAT": "json"})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _body(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_records": json.loads(frame.to_json(orient="records"))})


def _records(output: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (fails on any line that is not one)."""
    records = []
    for line in output.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}\n{output}")
    return records


def _response_id(raw: bytes) -> str:
    found = re.search(rb"\r\nx-request-id: ([^\r\n]*)\r\n", raw, re.IGNORECASE)
    assert found, raw
    return found.group(1).decode("ascii")


def test_request_id_is_echoed_or_made(server: Server) -> None:
    given = server.request("GET", "/version", headers={"X-Request-ID": "trace-42.a_b"})
    assert given.status == 200
    assert given.headers["x-request-id"] == "trace-42.a_b"
    first, second = server.get("/health"), server.get("/health")
    assert HEX_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    error = server.request("GET", "/nowhere", headers={"X-Request-ID": "lost-1"})
    assert (error.status, error.headers["x-request-id"]) == (404, "lost-1")


@pytest.mark.parametrize(
    "hostile",
    [
        b'a" level=error msg="forged',  # spaces and quotes: a forged text log field
        b"x" * 129,  # too long
        b"caf\xc3\xa9",  # not ASCII
        b"{}\\u000a",  # JSON-ish punctuation
    ],
)
def test_hostile_request_id_is_replaced(server: Server, hostile: bytes) -> None:
    head = b"GET /version HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + hostile + b"\r\n\r\n"
    raw = raw_exchange(server.port, head, [])
    assert raw.startswith(b"HTTP/1.1 200"), raw
    assert HEX_ID.fullmatch(_response_id(raw))
    assert hostile.decode("latin-1") not in server.output()


def test_json_lines_and_access_line(server: Server, project: Path, version: str) -> None:
    rows = feature_rows(project).head(3)
    reply = server.request(
        "POST",
        "/invocations",
        _body(rows).encode(),
        {"Content-Type": "application/json", "X-Request-ID": "score-3-rows"},
    )
    assert reply.status == 200, reply.body
    bad = server.request(
        "POST",
        "/invocations",
        b"{",
        {"Content-Type": "application/json", "X-Request-ID": "bad-json"},
    )
    assert bad.status == 400
    server.get("/metrics")
    assert server.stop() == 0
    records = _records(server.output())
    assert records
    for record in records:
        assert all(key in record for key in REQUIRED), record
        assert record["command"] == "serve"
        stamp = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
        assert stamp.utcoffset() == UTC.utcoffset(None)
    access = [r for r in records if r["logger"] == "mlops.serve.access"]
    scored = [r for r in access if r["request_id"] == "score-3-rows"]
    assert len(scored) == 1, access
    line = scored[0]
    assert line["level"] == "info"
    assert (line["method"], line["route"], line["status"], line["rows"]) == (
        "POST",
        "/invocations",
        200,
        3,
    )
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["model_version"] == version
    assert line["model_name"] == "penguins-classifier"
    refused = [r for r in access if r["request_id"] == "bad-json"]
    assert [(r["status"], r["rows"]) for r in refused] == [(400, None)]
    # probes are DEBUG: not at the default INFO level
    assert not [r for r in access if r["route"] in ("/metrics", "/health")]
    started = [r for r in records if "serving" in r["message"] and r["logger"] == "mlops.cli"]
    assert started, records
    loaded = [r for r in records if r["logger"] == "mlops.serve.model_holder"]
    assert loaded and loaded[-1]["model_version"] == version


def test_text_server_logs_access_lines(project: Path, version: str) -> None:
    server = Server.start(project)
    try:
        server.wait_ready()
        reply = server.request("GET", "/version", headers={"X-Request-ID": "text-1"})
        assert reply.headers["x-request-id"] == "text-1"
    finally:
        server.stop()
    output = server.output()
    lines = [line for line in output.splitlines() if "mlops.serve.access" in line]
    assert len(lines) == 1, output
    expected = (
        r"INFO mlops\.serve\.access: GET /version 200 \d+\.\dms rows=- "
        rf"model_version={version} request_id=text-1"
    )
    assert re.fullmatch(expected, lines[0]), lines
    assert not any(line.lstrip().startswith("{") for line in output.splitlines())


def test_cli_json_logs_carry_command_and_run_id(trained_project: Path) -> None:
    result = run_mlops("--log-format", "json", "-v", "train", cwd=trained_project)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    records = _records(result.stderr)
    assert records and all(r["command"] == "train" for r in records), records
    assert any(r.get("run_id") == run_id for r in records), records
    assert any(r["message"].startswith("fit in ") for r in records)  # the note, as a record


def test_cli_json_error_is_one_json_line(trained_project: Path) -> None:
    result = run_mlops(
        "--log-format", "json", "--config", "missing.yaml", "train", cwd=trained_project
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (record,) = _records(result.stderr)
    assert record["level"] == "error"
    assert record["exit_code"] == 1
    assert record["error"] == "ConfigError"
    assert "missing.yaml" in record["message"]
    assert "Traceback" not in result.stderr


def test_worker_processes_log_json(project: Path, version: str) -> None:
    """With --workers 2 the workers (spawned, configured by `app_from_env`) log JSON too."""
    server = Server.start(
        project, "--workers", "2", env={**process_env(), "MLOPS_LOG_FORMAT": "json"}
    )
    try:
        server.wait_ready()
        reply = server.request("GET", "/version", headers={"X-Request-ID": "worker-1"})
        assert reply.headers["x-request-id"] == "worker-1"
    finally:
        assert server.stop() == 0
    records = _records(server.output())
    assert all(r["command"] == "serve" for r in records)
    (line,) = [r for r in records if r.get("request_id") == "worker-1"]
    assert (line["route"], line["status"], line["model_version"]) == ("/version", 200, version)
    loaded = [r for r in records if r["logger"] == "mlops.serve.model_holder"]
    assert len(loaded) >= 2  # one load per worker
