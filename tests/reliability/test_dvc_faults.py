"""DVC faults: an interrupted push resumes; corrupted data arriving by pull is caught by verify."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.helpers import process_env
from conftest import copy_example, git_init

BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    return process_env() | {"OMP_NUM_THREADS": "1"}


def sh(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC repo with the pipeline run once and a local remote configured."""
    root = copy_example(tmp_path_factory.mktemp("dvcfaults") / "project")
    git_init(root)
    assert sh(root, str(BIN / "dvc"), "init", "-q").returncode == 0
    remote = root.parent / "remote"
    assert sh(root, str(BIN / "dvc"), "remote", "add", "-d", "local", str(remote)).returncode == 0
    result = sh(root, str(BIN / "dvc"), "repro")
    assert result.returncode == 0, result.stderr
    return root


def objects(remote: Path) -> dict[str, int]:
    return {str(p.relative_to(remote)): p.stat().st_size for p in remote.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_interrupted_push_then_resume(pipeline_repo: Path) -> None:
    remote = pipeline_repo.parent / "remote"
    for delay in (0.2, 0.8, 1.5):
        process = subprocess.Popen(
            [str(BIN / "mlops"), "data", "push"],
            cwd=pipeline_repo,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    resumed = sh(pipeline_repo, str(BIN / "mlops"), "data", "push")
    assert resumed.returncode == 0, resumed.stderr
    status = sh(pipeline_repo, str(BIN / "mlops"), "data", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["remote"] == {}, status.stdout
    assert len(objects(remote)) >= 4  # raw, train, test, model
    verify = sh(pipeline_repo, str(BIN / "mlops"), "data", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.slow
def test_corrupted_cache_object_is_reported(pipeline_repo: Path) -> None:
    train = pipeline_repo / "data" / "processed" / "train.parquet"
    from mlops.artifacts import file_md5

    digest = file_md5(train)
    cached = pipeline_repo / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    original = cached.read_bytes()
    try:
        cached.chmod(0o644)
        cached.write_bytes(original[: len(original) // 2])  # as an interrupted copy leaves it
        result = sh(pipeline_repo, str(BIN / "mlops"), "data", "verify", "--json")
        assert result.returncode == 3, result.stderr
        assert '"cache": "corrupted"' in result.stdout
        assert "data/processed/train.parquet" in result.stdout
    finally:
        cached.write_bytes(original)
    assert sh(pipeline_repo, str(BIN / "mlops"), "data", "verify").returncode == 0
