"""Model card generation time on the default data (penguins) and on a 50k-row dataset.

    OMP_NUM_THREADS=1 .venv/bin/python bench/card.py [--rows 50000] [--repeat 3] [--load]

Each project is rendered from the packaged example into a temp dir, ingested, split, trained
and evaluated once (not timed); then `write_card` (what `mlops card` runs: bootstrap intervals,
permutation importance, fairlearn slices, rendering, the diagram and the plot) is timed in one
warm process, with the analysis (what `mlops promote` adds under its lock) reported apart.
The 50k-row data is seeded: 8 numeric and 3 categorical columns, a binary target, a
hist_gradient_boosting model. `--load` runs a second process burning one core throughout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic(rows: int, path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(8)})
    frame["region"] = rng.choice(["north", "south", "east", "west"], rows)
    frame["plan"] = rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1])
    frame["channel"] = rng.choice(["web", "shop", "phone", "partner", "other"], rows)
    logit = frame["x0"] * 1.5 - frame["x1"] + (frame["plan"] == "pro") * 0.8
    frame["churned"] = np.where(logit + rng.normal(size=rows) > 0.5, "yes", "no")
    frame.to_csv(path, index=False)
    return path


def project(root: Path, overrides: tuple[str, ...]) -> tuple[object, object]:
    from mlops import pipeline, scaffold
    from mlops.data import ingest, split
    from mlops.evaluate import run_evaluation
    from mlops.project import open_project
    from mlops.tracking import Store
    from mlops.train import run_training

    files = scaffold.render(scaffold.EXAMPLE, pinned="mlops")
    for name in scaffold.EXAMPLE_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[name], encoding="utf-8")
    pipeline.write(open_project(root))
    opened = open_project(root, overrides=overrides)
    store = Store.for_project(opened)
    ingest(opened)
    split(opened)
    run_training(opened, store)
    run_evaluation(opened, store)
    return opened, store


def measure(name: str, root: Path, overrides: tuple[str, ...], repeat: int) -> None:
    from mlops.card import write_card

    opened, store = project(root, overrides)
    os.chdir(root)
    totals, analyses = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        result = write_card(opened, store)  # type: ignore[arg-type]
        totals.append(time.perf_counter() - start)
        analyses.append(result.analysis.seconds)
    print(
        f"{name:<10} card: median {statistics.median(totals):.2f} s "
        f"(analysis {statistics.median(analyses):.2f} s) of {repeat}: "
        f"{', '.join(f'{t:.2f}' for t in totals)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    args = parser.parse_args()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    print(f"({'loaded' if args.load else 'quiet'})")
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-bench-card-") as tmp:
            measure("penguins", Path(tmp) / "penguins", (), args.repeat)
            data = synthetic(args.rows, Path(tmp) / "synthetic.csv")
            overrides = (f"data.source={data}", "data.target=churned", "gate.metrics={}")
            measure(f"{args.rows // 1000}k rows", Path(tmp) / "big", overrides, args.repeat)
    finally:
        if burner is not None:
            burner.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
