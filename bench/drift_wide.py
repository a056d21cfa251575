"""Drift on a wide Parquet file: time must grow with the file's size, not the square of its
column count (issue 15: 4,000 columns took 134 s, 10,000 columns 905 s; goal <= 30 s).

    OMP_NUM_THREADS=1 .venv/bin/python bench/drift_wide.py [--columns 10000] [--rows 10000] [--load]

Writes a seeded reference and a current file (half of the columns shifted) to bench/out/wide/,
then times `mlops drift --reference REF --current CUR --no-fail` as a subprocess outside any
project (the same command a user runs) on Parquet, and with --csv on the same data as CSV (at 10k x
10k that is two 1.9 GB text files: parsing them dominates).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

GOAL = 30.0
OUT = Path(__file__).parent / "out" / "wide"


def write(columns: int, rows: int) -> dict[str, tuple[Path, Path]]:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"c{i}" for i in range(columns)])
    cur = pd.DataFrame(rng.normal(size=(rows, columns)), columns=ref.columns)
    cur.iloc[:, : columns // 2] += 0.5
    files = {}
    for kind in ("parquet", "csv"):  # CSV written always (cheap next to the run), timed on --csv
        paths = (OUT / f"ref.{kind}", OUT / f"cur.{kind}")
        for frame, path in zip((ref, cur), paths, strict=True):
            if kind == "parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False)
        files[kind] = paths
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    parser.add_argument("--csv", action="store_true", help="also time the same data as CSV")
    args = parser.parse_args()
    files = write(args.columns, args.rows)
    mlops = Path(sys.executable).parent / "mlops"
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    try:
        print(f"{args.columns} columns x {args.rows} rows ({'loaded' if args.load else 'quiet'})")
        for kind, (ref, cur) in files.items():
            if kind == "csv" and not args.csv:
                continue
            started = time.perf_counter()
            done = subprocess.run(
                [str(mlops), "drift", "--reference", str(ref), "--current", str(cur),
                 "--no-fail", "--json", str(OUT / f"report-{kind}.json"),
                 "--html", str(OUT / f"report-{kind}.html")],
                capture_output=True, text=True, cwd=OUT,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            verdict = "ok" if done.returncode == 0 else f"exit {done.returncode}"
            tail = (done.stderr.strip().splitlines() or [""])[-1][:160]
            print(f"{kind:8s} {seconds:7.1f} s  {verdict}  {tail}")
            if kind == "parquet":
                print(f"goal <= {GOAL:.0f} s: {'met' if seconds <= GOAL else 'missed'}")
    finally:
        if burner is not None:
            burner.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
