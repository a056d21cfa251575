"""CLI start-up: wall time of `mlops --help` against `dvc --help` (median of N runs each).

    .venv/bin/python bench/cli_startup.py [--runs 15]

Goal: `mlops --help` no slower than `dvc --help` (ratio <= 1.0x). Both run as fresh processes
from the same virtualenv, alternately, after one warm-up run each (so both read warm file caches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
GOAL_RATIO = 1.0


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    args = parser.parse_args()

    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    commands = {
        "mlops --help": [str(BIN / "mlops"), "--help"],
        "dvc --help": [str(BIN / "dvc"), "--help"],
        "mlops --version": [str(BIN / "mlops"), "--version"],
        "mlops train --help": [str(BIN / "mlops"), "train", "--help"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    # Diagnostic: the same help rendered by plain Click instead of Typer's rich formatter.
    plain = {**env, "TYPER_USE_RICH": "0"}
    envs = {name: env for name in commands} | {"mlops --help (plain)": plain}
    commands["mlops --help (plain)"] = commands["mlops --help"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, command in commands.items():
        wall(command, envs[name])  # warm-up: file caches, .pyc files
    for _ in range(args.runs):
        for name, command in commands.items():  # interleaved: load changes hit all alike
            times[name].append(wall(command, envs[name]))
    median = {name: statistics.median(values) for name, values in times.items()}

    print(f"runs: {args.runs} each (median wall time, interleaved, after one warm-up)")
    for name, value in median.items():
        spread = f"min {min(times[name]):.3f} s, max {max(times[name]):.3f} s"
        print(f"  {name:<22} {value:.3f} s  ({spread})")
    ratio = median["mlops --help"] / median["dvc --help"]
    print(
        f"mlops --help: {median['mlops --help']:.2f} s, dvc --help: {median['dvc --help']:.2f} s, "
        f"ratio {ratio:.2f}x (goal <= {GOAL_RATIO:.1f}x: {'met' if ratio <= GOAL_RATIO else 'MISSED'})"
    )
    if ratio > GOAL_RATIO:
        plain_ratio = median["mlops --help (plain)"] / median["dvc --help"]
        print(
            f"  with plain Click help (TYPER_USE_RICH=0): {median['mlops --help (plain)']:.2f} s, "
            f"ratio {plain_ratio:.2f}x: Typer's rich help formatter is the difference"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
