"""How long `mlops monitor` takes on 1M captured rows.

    python bench/monitor.py                 # 1,000,000 rows in 100 capture files
    python bench/monitor.py --rows 200000   # fewer

Trains the example project (penguins) once in bench/out/monitor/project and registers it as
`champion`, then writes capture files as `mlops serve` would (the test split resampled with
replacement, the champion's predictions of those rows, model version, timestamps, request ids)
and times `mlops monitor --json` as a real process (median of --runs). Also times the command
with --labels (the true species of every row, joined by request id). Figures go to stdout and
bench/out/monitor/bench.json. Resampling 69 test rows a million times leaves only 69 distinct
probability values, unlike the reference: the champion's probabilities may be flagged as
prediction drift (exit 3); the time is what this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
OUT = ROOT / "out" / "monitor"
PROJECT = OUT / "project"
FILE_ROWS = 10_000


def prepare_project() -> None:
    marker = PROJECT / "bench-model.json"
    if marker.exists():
        return
    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    PROJECT.mkdir(parents=True)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(REPO / name, PROJECT / name)
    shutil.copytree(REPO / "configs", PROJECT / "configs")
    os.chdir(PROJECT)
    from mlops import registry
    from mlops.data import ingest, split
    from mlops.project import open_project
    from mlops.tracking import Store
    from mlops.train import run_training

    project = open_project()
    store = Store.for_project(project)
    ingest(project)
    split(project)
    result = run_training(project, store)
    version = registry.register(store, result.model_uri, {"bench": "monitor"})
    registry.set_alias(store, "champion", version.version)
    marker.write_text(json.dumps({"version": version.version}))


def write_capture(rows: int, seed: int = 0) -> Path:
    """`rows` captured rows in files of FILE_ROWS, as the server writes them."""
    import numpy as np
    import pandas as pd

    os.chdir(PROJECT)
    from mlops import registry
    from mlops.project import open_project
    from mlops.tracking import Store

    project = open_project()
    store = Store.for_project(project)
    model = registry.load_model(store, f"models:/{project.settings.registry.model_name}@champion")
    test = pd.read_parquet(PROJECT / "data" / "processed" / "test.parquet")
    features = test.drop(columns=["species"])
    predictions = np.asarray(model.model.predict(features)).astype(str)
    directory = PROJECT / "data" / "capture"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=30)
    labels = []
    for n, first in enumerate(range(0, rows, FILE_ROWS)):
        size = min(FILE_ROWS, rows - first)
        index = rng.integers(0, len(test), size)
        frame = features.iloc[index].reset_index(drop=True)
        ids = [f"r{first + i:08d}" for i in range(size)]
        frame = frame.assign(
            prediction=predictions[index],
            _model_version=model.version if hasattr(model, "version") else "1",
            _model_name=project.settings.registry.model_name,
            _timestamp=start + pd.to_timedelta(np.arange(first, first + size) * 1e-3, unit="s"),
            _request_id=ids,
            _row=np.zeros(size, dtype=np.int32),
        )
        frame.to_parquet(directory / f"capture-bench-{n:05d}.parquet", index=False)
        labels.append(
            pd.DataFrame({"request_id": ids, "species": test["species"].to_numpy()[index]})
        )
    pd.concat(labels, ignore_index=True).to_parquet(OUT / "labels.parquet", index=False)
    return directory


def time_monitor(*args: str) -> tuple[float, dict[str, object], int]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mlops", "monitor", "--json", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 3):
        raise SystemExit(f"mlops monitor failed ({result.returncode}):\n{result.stderr}")
    return seconds, json.loads(result.stdout), result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    prepare_project()
    start = time.perf_counter()
    directory = write_capture(args.rows)
    files = len(list(directory.glob("capture-*.parquet")))
    size = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
    print(
        f"wrote {args.rows:,} captured rows in {files} files ({size:.1f} MB) "
        f"in {time.perf_counter() - start:.1f}s",
        flush=True,
    )
    figures: dict[str, object] = {"rows": args.rows, "files": files}
    for name, extra in (("plain", ()), ("labels", ("--labels", str(OUT / "labels.parquet")))):
        times = []
        summary: dict[str, object] = {}
        code = 0
        for _ in range(args.runs):
            seconds, summary, code = time_monitor(*extra)
            times.append(seconds)
            print(f"mlops monitor {' '.join(extra)}: {seconds:.2f}s (exit {code})", flush=True)
        median = statistics.median(times)
        drift = summary.get("drift", {})
        verdict = drift.get("verdict") if isinstance(drift, dict) else None
        print(
            f"median {median:.2f}s for {args.rows:,} rows "
            f"({args.rows / median:,.0f} rows/s); verdict {verdict}, exit {code}, "
            f"in-process {summary.get('seconds')}s"
        )
        figures[name] = {"seconds": times, "median": median, "exit": code}
    (OUT / "bench.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
