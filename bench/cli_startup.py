"""CLI start-up: wall time of `mlops --help` against `dvc --help` (median of N runs each).

    .venv/bin/python bench/cli_startup.py [--runs 15] [--project DIR] [--load]

Goal: `mlops --help` no slower than `dvc --help` (ratio <= 1.0x). Both run as fresh processes
from the same virtualenv, alternately, after one warm-up run each (so both read warm file caches).
`--project DIR` (a trained, promoted project) adds shell completion: one Tab on `mlops card `
(versions and @aliases from the SQLite store) and on `mlops --set model.estimator=` (bash, zsh).
`--load` runs everything beside a second process that keeps one core busy.
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


def wall(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    return time.perf_counter() - start


def burn() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    parser.add_argument("--project", type=Path, help="a promoted project: also time completion")
    parser.add_argument("--load", action="store_true", help="beside a process burning one core")
    args = parser.parse_args()
    burner = burn() if args.load else None
    try:
        return measure(args)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()


def measure(args: argparse.Namespace) -> int:

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
    if args.project is not None:  # what a shell runs on Tab (Typer's protocol)
        bash = {"_MLOPS_COMPLETE": "complete_bash", "COMP_WORDS": "mlops card ", "COMP_CWORD": "2"}
        # bash splits `model.estimator=` at `=`: the words it passes (see mlops.cli.completion)
        estimator = bash | {"COMP_WORDS": "mlops --set model.estimator =", "COMP_CWORD": "3"}
        # zsh also gets each value's help, which Typer renders with Rich (its import costs)
        zsh = {
            "_MLOPS_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": "mlops --set model.estimator=",
        }
        tabs = {
            "Tab: mlops card ": bash,
            "Tab: --set model.estimator=": estimator,
            "Tab: the same in zsh": zsh,
        }
        for name, extra in tabs.items():
            commands[name] = [str(BIN / "mlops")]
            envs[name] = env | extra
    cwd = {name: args.project for name in commands if name.startswith("Tab:")}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, command in commands.items():
        wall(command, envs[name], cwd.get(name))  # warm-up: file caches, .pyc files
    for _ in range(args.runs):
        for name, command in commands.items():  # interleaved: load changes hit all alike
            times[name].append(wall(command, envs[name], cwd.get(name)))
    median = {name: statistics.median(values) for name, values in times.items()}

    load = ", beside a process burning one core" if args.load else ""
    print(f"runs: {args.runs} each (median wall time, interleaved, after one warm-up{load})")
    for name, value in median.items():
        spread = f"min {min(times[name]):.3f} s, max {max(times[name]):.3f} s"
        print(f"  {name:<28} {value:.3f} s  ({spread})")
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
