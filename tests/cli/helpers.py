"""Helpers for driving the `mlops` CLI as a real process and checking what it left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

#: The console script installed next to the interpreter running the tests.
MLOPS = Path(sys.executable).parent / "mlops"
#: Environment variables a user may set to change what `mlops` does: not passed on.
USER_SETTINGS = (
    "MLOPS_CONFIG",
    "MLOPS_DEBUG",
    "MLOPS_PROJECT",
    "MLOPS_ALLOW_UNSAFE_MODEL",
    "MLOPS_LOG_FORMAT",
    "MLOPS_PROGRESS",
)


def process_env() -> dict[str, str]:
    """The environment for a real `mlops` process: no user overrides, no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in USER_SETTINGS}
    env["PATH"] = f"{MLOPS.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1")
    return env


def run_mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `mlops` console script as a real process."""
    return subprocess.run(
        [str(MLOPS), *args],
        cwd=cwd,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime: what a failed command must not change."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_one_line_error(result: Result, pattern: str) -> str:
    """Exit 1, nothing on stdout, exactly one `error: ...` line on stderr, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def mlops(*args: str) -> Result:
    """`mlops <args>` in-process through Typer's CliRunner (stdout and stderr apart)."""
    from mlops.cli.main import app

    return CliRunner().invoke(app, list(args))


def exits(result: Result, code: int) -> Result:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def one_line_error(result: Result, *fragments: str) -> str:
    """Exit 1 with exactly one `error: ...` line on stderr (no traceback) and nothing on stdout."""
    exits(result, 1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]
