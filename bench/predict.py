"""Benchmark `mlops predict` (chunked batch scoring) against the model's own `predict`.

    python bench/predict.py                          # 1M rows
    python bench/predict.py --rows 1000000 10000000  # and 10M: memory must not follow the file
    python bench/predict.py --load                   # quiet, then with one core kept busy

Uses the 100-tree random forest of bench/serve.py (trained once into bench/out/serve/project).
For each size, writes an N-row Parquet file of penguin rows, then measures, each in a fresh
process: the raw `model.predict` on the whole file loaded as one DataFrame (rows/s of predict
alone, with warning filters off as `mlops predict` scores, and with the process's defaults;
and the peak RSS of holding it all), and `mlops predict` end to end (scoring rows/s
including reading, checking, scoring and writing Parquet; wall time with start-up and model
load; peak RSS via wait4). Every timing is the best of --repeat runs (the machine is shared).
`mlops predict` runs with its default `predict.threads` (1) unless --threads is given; the raw
predict runs with the libraries' defaults (all cores), as a plain script would. With --load,
everything is measured again while a second process burns one core (a busy host).
Figures go to stdout and bench/out/predict/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import MODEL_NAME, PROJECT, prepare_project
from serve import OUT as SERVE_OUT

OUT = SERVE_OUT.parent / "predict"

RAW = """
import json, os, resource, sys, time
import pandas as pd
from mlops import registry
from mlops.project import open_project
from mlops.predict import Scorer
from mlops.tracking import Store

loaded = registry.load_model(Store.for_project(open_project()), sys.argv[1])
frame = pd.read_parquet(sys.argv[2])
frame = Scorer.from_loaded(loaded).schema.coerce(frame).frame
from mlops.predict.batch import warnings_silenced

def best(repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        loaded.model.predict(frame)
        times.append(time.perf_counter() - start)
    return min(times)

repeat = int(sys.argv[3])
seconds = best(repeat)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with warnings_silenced():  # as `mlops predict` scores
    quiet = best(repeat)
print(json.dumps({"seconds": seconds, "quiet_seconds": quiet, "peak_rss_mb": peak}))
"""


def make_rows(rows: int) -> Path:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = OUT / f"rows-{rows}.parquet"
    if path.exists():
        return path
    source = pd.read_parquet(PROJECT / "data" / "processed" / "train.parquet")
    source = source.drop(columns=["species"]).reset_index(drop=True)
    rng = np.random.default_rng(0)
    chunk = 1_000_000
    with pq.ParquetWriter(
        str(path) + ".tmp", pa.Schema.from_pandas(source, preserve_index=False)
    ) as writer:
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            part = source.iloc[rng.integers(0, len(source), size)].reset_index(drop=True)
            writer.write_table(pa.Table.from_pandas(part, preserve_index=False))
    Path(str(path) + ".tmp").rename(path)
    return path


def run(command: list[str]) -> tuple[str, float, float]:
    """(stdout+stderr, wall seconds, peak RSS MB) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    output = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{output[-2000:]}")
    return output, wall, usage.ru_maxrss / 1024


def measure(
    rows: int, uri: str, batch_size: int, skip_raw: bool, repeat: int, threads: int | None = None
) -> dict[str, Any]:
    path = make_rows(rows)
    result: dict[str, Any] = {"rows": rows, "file_mb": path.stat().st_size / 1e6}
    if not skip_raw:
        output, _, _ = run([sys.executable, "-c", RAW, uri, str(path), str(repeat)])
        raw = json.loads(output.strip().splitlines()[-1])
        result["raw_rows_per_s"] = rows / raw["quiet_seconds"]
        result["raw_rows_per_s_default_warnings"] = rows / raw["seconds"]
        result["raw_peak_rss_mb"] = raw["peak_rss_mb"]
    target = OUT / f"scored-{rows}.parquet"
    mlops = str(Path(sys.executable).parent / "mlops")
    command = [mlops, "-q", "predict", str(path), str(target), "-m", uri]
    if threads is not None:
        command += ["--threads", str(threads)]
    runs = []
    for _ in range(repeat):
        output, wall, peak = run([*command, "--batch-size", str(batch_size)])
        found = re.search(r"in ([\d.]+)s \(", output)
        if not found:
            raise RuntimeError(f"no summary in: {output}")
        runs.append((float(found.group(1)), wall, peak))
    scoring, wall, peak = min(runs)
    result.update(
        scoring_seconds=scoring,
        mlops_rows_per_s=rows / scoring,
        mlops_wall_s=wall,
        mlops_peak_rss_mb=max(p for _, _, p in runs),
        output_mb=target.stat().st_size / 1e6,
    )
    target.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--repeat", type=int, default=2, help="best of N for every timing")
    parser.add_argument("--skip-raw-above", type=int, default=2_000_000,
                        help="no whole-file raw predict above this many rows (memory)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None,
                        help="mlops predict --threads (default: predict.threads)")  # fmt: skip
    parser.add_argument("--load", action="store_true",
                        help="measure quiet, then again with a second process burning one core")  # fmt: skip
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    info = prepare_project()
    uri = f"models:/{MODEL_NAME}@champion"
    print(f"model: {uri} (v{info['version']}), 100-tree random forest; {os.cpu_count()} CPUs; "
          f"mlops predict --batch-size {args.batch_size}", flush=True)  # fmt: skip
    report: dict[str, list[dict[str, Any]]] = {}
    for condition in ("quiet", "loaded") if args.load else ("quiet",):
        burner = None
        if condition == "loaded":
            burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            print(f"-- {condition}", flush=True)
            report[condition] = results = run_sizes(args, uri)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
        goals(results, condition)
    (OUT / "bench.json").write_text(json.dumps(report, indent=2))


def run_sizes(args: argparse.Namespace, uri: str) -> list[dict[str, Any]]:
    results = []
    for rows in args.rows:
        result = measure(
            rows, uri, args.batch_size, rows > args.skip_raw_above, args.repeat, args.threads
        )
        results.append(result)
        raw = result.get("raw_rows_per_s")
        ratio = f"{result['mlops_rows_per_s'] / raw:.2f}x raw" if raw else "raw not run"
        print(
            f"{rows:>11,} rows ({result['file_mb']:.0f} MB Parquet): "
            f"raw predict {raw or float('nan'):,.0f} rows/s (peak RSS "
            f"{result.get('raw_peak_rss_mb', float('nan')):,.0f} MB) | mlops predict "
            f"{result['mlops_rows_per_s']:,.0f} rows/s incl. I/O = {ratio}; "
            f"{result['mlops_wall_s']:.1f}s wall with start-up; peak RSS "
            f"{result['mlops_peak_rss_mb']:,.0f} MB",
            flush=True,
        )
    return results


def goals(results: list[dict[str, Any]], condition: str) -> None:
    with_raw = [r for r in results if "raw_rows_per_s" in r]
    for result in with_raw:
        ratio = result["mlops_rows_per_s"] / result["raw_rows_per_s"]
        default = result["mlops_rows_per_s"] / result["raw_rows_per_s_default_warnings"]
        state = "met" if ratio >= 0.8 else "MISSED"
        print(f"  [{state}] {condition}, {result['rows']:,} rows: {ratio:.2f}x raw model.predict "
              f"throughput including I/O (goal >= 0.8x; {default:.2f}x vs raw predict with this "
              "process's default warning filters)")  # fmt: skip
    if len(results) > 1:
        peaks = [r["mlops_peak_rss_mb"] for r in results]
        print(f"  peak RSS across sizes: {', '.join(f'{p:,.0f} MB' for p in peaks)} "
              "(bounded by the chunk size when these stay level)")  # fmt: skip


if __name__ == "__main__":
    main()
