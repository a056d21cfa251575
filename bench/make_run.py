"""The whole pipeline: `dvc repro` from scratch in a fresh clone, then a no-op rerun.

    .venv/bin/python bench/make_run.py [--reruns 5] [--keep]

A temp `git clone` of this repository (committed files only) with the existing `.venv`
symlinked in, so nothing is installed. Goal: a no-op rerun in <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
GOAL_NOOP_SECONDS = 2.0


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def stages_run(output: str) -> list[str]:
    return re.findall(r"^Running stage '([^']+)'", output, flags=re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=5, help="no-op reruns to time")
    parser.add_argument("--keep", action="store_true", help="keep the clone and print its path")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mlops-make-run-"))
    clone = tmp / "repo"
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        (clone / ".venv").symlink_to(VENV, target_is_directory=True)
        env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_CONFIG", "MLOPS_DEBUG")}
        env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.update(DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
        dvc = str(clone / ".venv" / "bin" / "dvc")
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
        ).stdout.strip()

        scratch, output = timed([dvc, "repro"], clone, env)
        ran = stages_run(output)
        noop: list[float] = []
        for _ in range(args.reruns):
            seconds, output = timed([dvc, "repro"], clone, env)
            if stages_run(output):
                sys.exit(f"a no-op rerun ran stages: {stages_run(output)}")
            noop.append(seconds)
        status, _ = timed([dvc, "status"], clone, env)

        print(f"clone of {ROOT} at {commit} in {clone}")
        print(f"dvc repro from scratch: {scratch:.1f} s ({len(ran)} stages: {', '.join(ran)})")
        median = statistics.median(noop)
        verdict = "met" if median <= GOAL_NOOP_SECONDS else "MISSED"
        print(
            f"dvc repro no-op rerun: {median:.2f} s median of {len(noop)} "
            f"(min {min(noop):.2f} s, max {max(noop):.2f} s; goal <= {GOAL_NOOP_SECONDS:.0f} s: "
            f"{verdict})"
        )
        print(f"dvc status (up to date): {status:.2f} s")
    finally:
        if args.keep:
            print(f"kept: {clone}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
