"""`mlops init` + `make run` on the issue's three acceptance datasets, quiet and loaded.

    .venv/bin/python bench/init_run.py [--load] [--cases rare_binary,regression,multiclass]

Each case: a fresh folder, `mlops init` on a file written here (the same generators as
tests/integration/test_init.py), then `make run` (the toolkit already installed in this venv),
then a second `make run` with nothing changed. `--load` runs a second process burning one core
throughout, as on a busy CI runner. Native threads follow `train.n_jobs` (all cores by default):
set OMP_NUM_THREADS=1 to see the single-threaded figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from test_init import (  # noqa: E402  (the tests' data generators)
    VENV,
    env,
    multiclass_parquet,
    ordinal_regression_csv,
    rare_binary_csv,
)

CASES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "rare_binary": (lambda d: rare_binary_csv(d / "Default.csv"), "default", "credit"),
    "regression": (lambda d: ordinal_regression_csv(d / "diamonds.csv"), "price", "diamonds"),
    "multiclass": (lambda d: multiclass_parquet(d / "points.parquet"), "label", "points"),
}


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    try:
        print(
            f"{'case':<12} {'rows':>7} {'init':>7} {'make run':>9} {'2nd run':>8}  ({'loaded' if args.load else 'quiet'})"
        )
        for name in args.cases.split(","):
            make_data, target, folder = CASES[name]
            with tempfile.TemporaryDirectory(prefix="mlops-bench-init-") as tmp:
                work = Path(tmp)
                source = make_data(work)
                project = work / folder
                init = timed(
                    [
                        str(VENV / "bin" / "mlops"),
                        "init",
                        str(project),
                        "--source",
                        str(source),
                        "--target",
                        target,
                    ],
                    work,
                )
                first = timed(["make", "run", f"VENV={VENV}"], project)
                second = timed(["make", "run", f"VENV={VENV}"], project)
                rows = sum(1 for _ in source.open("rb")) - 1 if source.suffix == ".csv" else 0
                shown = f"{rows:>7}" if rows else f"{'parquet':>7}"
                print(f"{name:<12} {shown} {init:>6.1f}s {first:>8.1f}s {second:>7.2f}s")
    finally:
        if burner is not None:
            burner.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
