"""Credentials never reach errors or logs; configured paths cannot escape the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.errors import redact_secrets

MLOPS = Path(sys.executable).parent / "mlops"
SECRET = "s3cret-Pa55word"


def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env.update(
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="2",
        MLFLOW_DISABLE_TELEMETRY="true",
        **extra_env,
    )
    return subprocess.run([str(MLOPS), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["train"], ["promote"], ["models", "list"], ["doctor"]])
def test_credentials_in_the_tracking_uri_are_redacted(
    command: list[str], trained_project: Path
) -> None:
    config = trained_project / "configs" / "remote.yaml"
    config.write_text(f"tracking:\n  uri: http://alice:{SECRET}@127.0.0.1:1\n")
    result = run("-vv", "--config", str(config), *command, MLFLOW_TRACKING_PASSWORD=SECRET)
    assert result.returncode == 1, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "alice" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    if command == ["promote"]:
        # promote first asks the registry through the MLflow-free REST lookup (is the candidate
        # already the champion?); its error names the server without any credentials.
        assert last.startswith("error: registry: cannot reach http://127.0.0.1:1 ("), last
    else:
        assert last.startswith("error: tracking store http://***@"), last


def test_secret_environment_values_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", SECRET)
    assert redact_secrets(f"token {SECRET} rejected by https://bob:pw@host/x") == (
        "token *** rejected by https://***@host/x"
    )


def test_training_records_no_secret(trained_project: Path) -> None:
    from conftest import open_store

    result = run("train", MLFLOW_TRACKING_PASSWORD=SECRET)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    found = open_store().get_run(run_id)
    recorded = str(found.data.params) + str(found.data.tags)
    assert SECRET not in recorded


@pytest.mark.parametrize("bad", ["../outside", "/tmp/elsewhere", "reports/../../x"])
def test_config_paths_cannot_escape_the_project(bad: str, project: Path) -> None:
    config = project / "configs" / "escape.yaml"
    config.write_text(f"paths:\n  reports: {bad}\n")
    result = run("--config", str(config), "data", "ingest")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "inside the project" in line
    assert not (project / "data").exists()


#: Every command `mlops --help` lists (groups expanded), with the arguments it needs; `serve`
#: is run separately (it does not exit on its own).
EVERY_COMMAND: list[list[str]] = [
    ["data", "ingest"],
    ["data", "validate"],
    ["data", "split"],
    ["data", "scan", "data/processed/test.parquet"],
    ["data", "verify"],
    ["data", "status"],
    ["data", "push"],
    ["data", "pull"],
    ["train"],
    ["eval"],
    ["tune", "--trials", "1"],
    ["explain", "data/processed/test.parquet"],
    ["promote"],
    ["rollback"],
    ["card"],
    ["models", "list"],
    ["models", "show", "1"],
    ["drift", "--no-fail"],
    ["monitor"],
    ["predict", "data/processed/test.parquet", "scored.parquet"],
    ["doctor"],
    ["pipeline", "write"],
    ["pipeline", "check"],
    ["pipeline", "run"],
    ["init", "elsewhere", "--source", "builtin:iris", "--target", "target", "--yes"],
]
#: Tracking URIs with a password, unreachable (commands fail fast; the point is the messages).
SECRET_URIS = {
    "postgresql": f"postgresql://alice:{SECRET}@127.0.0.1:1/mlflow",
    "http": f"http://alice:{SECRET}@127.0.0.1:1",
}


def _changed_files(root: Path, before: dict[Path, int], *skip: Path) -> list[Path]:
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and before.get(p) != p.stat().st_mtime_ns and p not in skip
    ]


@pytest.mark.slow
def test_no_command_writes_a_credential_into_any_output(trained_project: Path) -> None:
    """Every command, pointed at a tracking URI with a password: its stdout, stderr (at -vv) and
    every file it writes under the project are grepped for the password (the drift report once
    quoted MLflow's exception text, with the URI in it)."""
    from concurrent.futures import ThreadPoolExecutor

    config = trained_project / "configs" / "remote.yaml"
    config.write_text(f"tracking:\n  uri: {SECRET_URIS['postgresql']}\n")
    before = {p: p.stat().st_mtime_ns for p in trained_project.rglob("*") if p.is_file()}

    def one(command: list[str]) -> tuple[list[str], subprocess.CompletedProcess[str]]:
        return command, run("-vv", "--config", str(config), *command)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, EVERY_COMMAND))
    leaked = [" ".join(c) for c, r in results if SECRET in r.stdout + r.stderr]
    assert not leaked, leaked
    # most commands did reach for the store, and named it without the password
    named = [" ".join(c) for c, r in results if "://***@127.0.0.1:1" in r.stderr]
    assert len(named) >= 12, named
    assert [" ".join(c) for c, r in results if "Traceback" in r.stderr] == []
    for path in _changed_files(trained_project, before, config):
        assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("scheme", sorted(SECRET_URIS))
def test_serve_keeps_a_credential_out_of_its_logs_and_answers(
    scheme: str, trained_project: Path
) -> None:
    from tests.integration.serving import Server, process_env

    config = trained_project / "configs" / "remote.yaml"
    config.write_text(f"tracking:\n  uri: {SECRET_URIS[scheme]}\n")
    before = {p: p.stat().st_mtime_ns for p in trained_project.rglob("*") if p.is_file()}
    env = {**process_env(), "MLOPS_CONFIG": str(config)}
    env.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="2")
    server = Server.start(trained_project, env=env)
    try:
        health = server.wait_for("/health", lambda r: r.status == 503 and r.json()["error"])
        answers = [health.body, server.get("/metrics").body, server.post('{"inputs": [[1]]}').body]
    finally:
        server.stop()
    assert all(SECRET.encode() not in body for body in answers)
    assert SECRET not in server.output()
    for path in _changed_files(trained_project, before, config):
        assert SECRET.encode() not in path.read_bytes(), path


def test_reports_redact_credentials_at_the_writer(tmp_path: Path) -> None:
    from mlops import artifacts

    uri = f"http://alice:{SECRET}@tracking.example:5000"
    artifacts.write_json(tmp_path / "r.json", {"note": f"store {uri} failed: {uri}/api"})
    artifacts.write_report(tmp_path / "r.html", f"<p>{uri}</p>")
    for name in ("r.json", "r.html"):
        text = (tmp_path / name).read_text()
        assert SECRET not in text and "http://***@tracking.example:5000" in text
