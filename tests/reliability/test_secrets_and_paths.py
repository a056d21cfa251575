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
