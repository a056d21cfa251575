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


@pytest.mark.parametrize(
    "command", [["drift", "--no-fail"], ["card"], ["eval"], ["data", "validate"]]
)
def test_no_command_writes_a_credential_into_any_output(
    command: list[str], trained_project: Path
) -> None:
    """Every stdout/stderr line and every file a command writes, grepped for the password of a
    tracking URI it was pointed at (the drift report once quoted MLflow's exception text)."""
    config = trained_project / "configs" / "remote.yaml"
    config.write_text(f"tracking:\n  uri: postgresql://alice:{SECRET}@127.0.0.1:1/mlflow\n")
    before = {p: p.stat().st_mtime_ns for p in trained_project.rglob("*") if p.is_file()}
    result = run("-vv", "--config", str(config), *command)
    assert SECRET not in result.stdout + result.stderr, command
    written = [
        p
        for p in trained_project.rglob("*")
        if p.is_file() and before.get(p) != p.stat().st_mtime_ns and p != config
    ]
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_reports_redact_credentials_at_the_writer(tmp_path: Path) -> None:
    from mlops import artifacts

    uri = f"http://alice:{SECRET}@tracking.example:5000"
    artifacts.write_json(tmp_path / "r.json", {"note": f"store {uri} failed: {uri}/api"})
    artifacts.write_report(tmp_path / "r.html", f"<p>{uri}</p>")
    for name in ("r.json", "r.html"):
        text = (tmp_path / name).read_text()
        assert SECRET not in text and "http://***@tracking.example:5000" in text
