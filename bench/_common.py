"""What the bench scripts share: the environment of the processes they time, and one timed run.

Imported by scripts run as `python bench/<name>.py` (their folder is then first on sys.path).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def env() -> dict[str, str]:
    values = dict(os.environ)
    values.update(
        OMP_NUM_THREADS="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
        DVC_NO_ANALYTICS="1",
    )  # fmt: skip
    return values


def run(args: list[str], cwd: Path) -> tuple[float, str]:
    """`args` as a fresh process in `cwd`: (seconds, stdout); exits the bench if it fails."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout
