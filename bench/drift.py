"""Benchmark `mlops drift` against Evidently's DataDriftPreset on the same seeded files.

    python bench/drift.py                      # 1M rows per side, Evidently too if its venv exists
    python bench/drift.py --rows 5000000 --no-evidently
    python bench/drift.py --setup-evidently    # create bench/out/evidently-venv first (needs PyPI)
    python bench/drift.py --priority -10       # on a busy machine: both tools at a higher priority

Generates N rows x (20 numeric + 5 categorical) per side, with known drift in some columns,
times `mlops drift` end to end as a subprocess (wall, CPU, peak RSS via wait4; `--repeat` runs,
half before and half after Evidently, the median counts), and, when bench/out/evidently-venv
exists, Evidently 0.7 (DataDriftPreset) in that venv on the same files. Prints both timings, the
ratio, peak memory against the data's in-memory (Arrow) size, and both verdict lists side by
side. Figures go to stdout and bench/out/drift-<N>/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
EVIDENTLY_VENV = OUT / "evidently-venv"
EVIDENTLY_REQUIREMENTS = ["evidently>=0.7,<0.8", "pandas<3"]
GENERATOR_VERSION = 2
#: Niceness change for the measured commands (`--priority`; negative needs root).
NICENESS = 0
CHUNK_ROWS = 1_000_000

#: What the generator plants, for the printout (column -> what differs in `current`).
PLANTED = {
    "num_00": "mean +0.5 sd",
    "num_01": "scale x1.6",
    "num_02": "mean +0.05 sd (below the 0.1 threshold)",
    "num_03": "20% missing in current only",
    "num_05": "3 values, shifted frequencies",
    "cat_0": "shifted frequencies",
    "cat_1": "unseen category 'new' (15%)",
}

EVIDENTLY_RUNNER = """
import json, sys, time
start = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

ref_path, cur_path, out_path = sys.argv[1:4]
reference = pd.read_parquet(ref_path)
current = pd.read_parquet(cur_path)
numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
categorical = [c for c in reference.columns if c not in numeric]
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
columns = {}
for metric in snapshot.dict()["metrics"]:
    name = metric["metric_name"]
    if not name.startswith("ValueDrift("):
        continue
    fields = dict(part.split("=", 1) for part in name[len("ValueDrift("):-1].split(","))
    value, threshold = float(metric["value"]), float(fields["threshold"])
    method = fields["method"]
    if "p_value" in method:
        drift = value <= threshold if method.startswith("K-S") else value < threshold
    else:
        drift = value >= threshold
    columns[fields["column"]] = {"method": method, "statistic": value, "drift": drift}
json.dump({"seconds": time.perf_counter() - start, "columns": columns}, open(out_path, "w"))
"""


# --------------------------------------------------------------------------- data


def _categories(rng: np.random.Generator, labels: list[str], p: np.ndarray, n: int) -> pa.Array:
    indices = pa.array(rng.choice(len(labels), size=n, p=p / p.sum()).astype(np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())


def make_chunk(rng: np.random.Generator, n: int, drifted: bool) -> pa.Table:
    """One chunk of rows; `drifted` plants the changes listed in PLANTED."""
    cols: dict[str, Any] = {}
    cols["num_00"] = rng.normal(0.5 if drifted else 0.0, 1.0, n)
    cols["num_01"] = rng.normal(0.0, 1.6 if drifted else 1.0, n)
    lognormal = rng.lognormal(0.0, 0.5, n)
    cols["num_02"] = lognormal + (0.05 * 0.6 if drifted else 0.0)  # ~0.05 sd of the lognormal
    missing = rng.normal(10.0, 2.0, n)
    if drifted:
        missing[rng.random(n) < 0.2] = np.nan
    cols["num_03"] = missing
    cols["num_04"] = rng.poisson(3.0, n).astype(np.int64)
    three = np.array([0.2, 0.3, 0.5]) if drifted else np.array([0.5, 0.3, 0.2])
    cols["num_05"] = rng.choice(3, size=n, p=three).astype(np.int64)
    makers = [
        lambda: rng.normal(0.0, 1.0, n),
        lambda: rng.uniform(-3.0, 3.0, n),
        lambda: rng.exponential(2.0, n),
        lambda: rng.gamma(2.0, 2.0, n),
    ]
    for i in range(6, 20):
        values = makers[i % 4]()
        if i % 5 == 0:  # 1% missing on both sides
            values[rng.random(n) < 0.01] = np.nan
        cols[f"num_{i:02d}"] = values
    ten = [f"c{k}" for k in range(10)]
    shift = np.linspace(1.0, 3.0, 10) if drifted else np.ones(10)
    cols["cat_0"] = _categories(rng, ten, shift, n)
    twenty = [f"v{k:02d}" for k in range(20)]
    if drifted:
        cols["cat_1"] = _categories(rng, [*twenty, "new"], np.r_[np.full(20, 0.85 / 20), 0.15], n)
    else:
        cols["cat_1"] = _categories(rng, twenty, np.ones(20), n)
    cols["cat_2"] = _categories(rng, list("abcde"), np.array([5.0, 4, 3, 2, 1]), n)
    cols["cat_3"] = _categories(rng, [f"k{k:02d}" for k in range(50)], np.ones(50), n)
    cols["cat_4"] = _categories(rng, ["no", "yes"], np.array([0.7, 0.3]), n)
    return pa.table(cols)


def write_dataset(path: Path, rows: int, seed: int, drifted: bool) -> None:
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            chunk = make_chunk(rng, min(CHUNK_ROWS, rows - start), drifted)
            if writer is None:
                writer = pq.ParquetWriter(tmp, chunk.schema)
            writer.write_table(chunk, row_group_size=CHUNK_ROWS)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)


def ensure_data(directory: Path, rows: int, seed: int) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    reference, current = directory / "reference.parquet", directory / "current.parquet"
    marker = directory / "data.json"
    wanted = {"rows": rows, "seed": seed, "generator": GENERATOR_VERSION}
    fresh = marker.exists() and json.loads(marker.read_text()) == wanted
    if fresh and reference.exists() and current.exists():
        return reference, current
    start = time.perf_counter()
    write_dataset(reference, rows, seed, drifted=False)
    write_dataset(current, rows, seed + 1, drifted=True)
    marker.write_text(json.dumps(wanted))
    print(f"generated 2 x {rows:,} rows in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return reference, current


def arrow_size(path: Path) -> int:
    """In-memory (Arrow) size of a Parquet file, read one row group at a time."""
    handle = pq.ParquetFile(path)
    return sum(handle.read_row_group(i).nbytes for i in range(handle.num_row_groups))


# --------------------------------------------------------------------------- runs


#: A fresh, small interpreter runs each measured command: a child forked from this (large)
#: process would report this process's memory as part of its own peak RSS.
MEASURE = """
import json, os, subprocess, sys, time
if int(sys.argv[1]):
    os.nice(int(sys.argv[1]))  # both tools get the same priority over background load
start = time.perf_counter()
with subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL) as proc:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "cpu_seconds": usage.ru_utime + usage.ru_stime,
    "peak_rss_mb": usage.ru_maxrss / 1024,
    "exit_code": proc.returncode,
}))
"""


def measure(command: list[str], cwd: Path) -> dict[str, float]:
    """Run a command; wall seconds, CPU seconds and peak RSS (MB) of that process alone."""
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_CONFIG"}
    wrapper = [sys.executable, "-S", "-c", MEASURE, str(NICENESS), *command]
    done = subprocess.run(wrapper, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's time alongside."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["all_seconds"] = [round(r["seconds"], 3) for r in runs]
    return chosen


def run_mlops(reference: Path, current: Path, directory: Path) -> dict[str, Any]:
    params = directory / "params.yaml"
    params.write_text("drift:\n  share: 0.5\n")
    report = directory / "drift.json"
    command = [
        sys.executable, "-m", "mlops", "--quiet", "--params", str(params), "drift",
        "--reference", str(reference), "--current", str(current),
        "--json", str(report), "--html", str(directory / "drift.html"), "--no-fail",
    ]  # fmt: skip
    figures: dict[str, Any] = measure(command, directory)
    if figures["exit_code"] != 0:
        raise SystemExit(f"mlops drift failed with exit code {figures['exit_code']}")
    payload = json.loads(report.read_text())
    figures["columns"] = {
        c["column"]: {"method": c["method"], "statistic": c["statistic"], "verdict": c["verdict"]}
        for c in payload["columns"]
    }
    figures["verdict"] = payload["verdict"]
    return figures


def setup_evidently() -> None:
    if not (EVIDENTLY_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    pip = [str(EVIDENTLY_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *EVIDENTLY_REQUIREMENTS], check=True)


def run_evidently(reference: Path, current: Path, directory: Path) -> dict[str, Any] | None:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        return None
    check = subprocess.run([str(python), "-c", "import evidently"], capture_output=True)
    if check.returncode != 0:
        return None
    runner = directory / "evidently_run.py"
    runner.write_text(EVIDENTLY_RUNNER)
    out = directory / "evidently.json"
    command = [str(python), str(runner), str(reference), str(current), str(out)]
    figures: dict[str, Any] = measure(command, directory)
    if figures["exit_code"] != 0:
        raise SystemExit(f"Evidently failed with exit code {figures['exit_code']}")
    figures.update(json.loads(out.read_text()))
    return figures


# --------------------------------------------------------------------------- report

#: Our method names -> Evidently's display names, where the statistic is the same.
SAME_METHOD = {
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "ks": "K-S p_value",
    "psi": "PSI",
}


def compare(ours: dict[str, Any], theirs: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for name, mine in ours["columns"].items():
        other = (theirs or {}).get("columns", {}).get(name)
        same = other is not None and SAME_METHOD.get(mine["method"]) == other["method"]
        rows.append(
            {
                "column": name,
                "planted": PLANTED.get(name, ""),
                "ours": mine,
                "evidently": other,
                "same_method": same,
                "agree": (
                    None if other is None else (mine["verdict"] == "drift") == other["drift"]
                ),
            }
        )
    return sorted(rows, key=lambda r: r["column"])


def print_report(result: dict[str, Any]) -> None:
    ours, theirs, rows = result["mlops"], result["evidently"], result["columns"]
    data_mb = result["data_mb"]
    print(
        f"\n{result['rows']:,} rows per side x 25 columns; data in memory (Arrow): {data_mb:.0f} MB"
    )
    print(
        f"mlops drift : {ours['seconds']:7.2f} s wall, {ours['cpu_seconds']:7.2f} s CPU, "
        f"peak RSS {ours['peak_rss_mb']:7.0f} MB = {ours['peak_rss_mb'] / data_mb:.2f} x data"
        f"  (median of {len(ours['all_seconds'])}: {ours['all_seconds']} s)"
    )
    if theirs is not None:
        print(
            f"Evidently   : {theirs['seconds']:7.2f} s wall, {theirs['cpu_seconds']:7.2f} s CPU, "
            f"peak RSS {theirs['peak_rss_mb']:7.0f} MB = {theirs['peak_rss_mb'] / data_mb:.2f} x data"
        )
        print(
            f"speed-up    : {theirs['seconds'] / ours['seconds']:.1f}x wall, "
            f"{theirs['cpu_seconds'] / ours['cpu_seconds']:.1f}x CPU"
        )
    header = f"{'column':8} {'ours':32} {'Evidently':42} {'same':5} {'agree':5}  planted"
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        mine, other = row["ours"], row["evidently"]
        left = f"{mine['verdict']:9} {mine['method'] or '-':13} {mine['statistic'] or 0:8.4f}"
        right = (
            f"{'drift' if other['drift'] else 'no_drift':9} {other['method'][:23]:23} "
            f"{other['statistic']:8.4f}"
            if other
            else "-"
        )
        agree = "-" if row["agree"] is None else "yes" if row["agree"] else "NO"
        same = "-" if other is None else "yes" if row["same_method"] else "no"
        print(f"{row['column']:8} {left:32} {right:42} {same:5} {agree:5}  {row['planted']}")
    same_rows = [r for r in rows if r["same_method"]]
    if theirs is not None:
        agreed = sum(bool(r["agree"]) for r in same_rows)
        print(f"\nverdicts agree on {agreed}/{len(same_rows)} columns where the method is the same")
    print(f"dataset verdict: mlops {ours['verdict']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="default: bench/out/drift-<rows>")
    parser.add_argument("--repeat", type=int, default=3, help="mlops runs (median counts)")
    parser.add_argument("--no-evidently", action="store_true", help="skip the Evidently run")
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        help="niceness change for both measured tools, e.g. -10 on a busy machine (needs root)",
    )
    parser.add_argument("--setup-evidently", action="store_true", help="create its venv first")
    args = parser.parse_args(argv)
    global NICENESS
    NICENESS = args.priority
    directory = args.out or OUT / f"drift-{args.rows}"
    if args.setup_evidently:
        setup_evidently()
    reference, current = ensure_data(directory, args.rows, args.seed)
    data_bytes = arrow_size(reference) + arrow_size(current)
    # Half of our runs before Evidently's and half after: the same load conditions on average.
    repeat = max(1, args.repeat)
    runs = [run_mlops(reference, current, directory) for _ in range((repeat + 1) // 2)]
    theirs = None if args.no_evidently else run_evidently(reference, current, directory)
    runs += [run_mlops(reference, current, directory) for _ in range(repeat // 2)]
    ours = median_run(runs)
    result = {
        "rows": args.rows,
        "priority": args.priority,
        "data_mb": data_bytes / 2**20,
        "mlops": {k: v for k, v in ours.items() if k != "columns"},
        "evidently": {k: v for k, v in theirs.items() if k != "columns"} if theirs else None,
        "columns": compare(ours, theirs),
    }
    if theirs is not None:
        result["speedup"] = theirs["seconds"] / ours["seconds"]
    result["memory_ratio"] = ours["peak_rss_mb"] / result["data_mb"]
    (directory / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
