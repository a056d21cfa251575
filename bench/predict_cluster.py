"""Benchmark `mlops predict --cluster local:N` against in-process `mlops predict` on one file.

    python bench/predict_cluster.py                   # 10M rows, local:2
    python bench/predict_cluster.py --rows 1000000    # a quick run
    python bench/predict_cluster.py --load            # with a second process burning one core

Uses the 100-tree random forest of bench/serve.py and the N-row Parquet file of bench/predict.py
(row groups of 1M rows; both cached under bench/out/). Each run is a fresh `mlops -q predict`
process, timed end to end (cluster start, worker imports and model loads included): rows/s of
wall time for both and their ratio, plus the scoring seconds `mlops predict` reports. Peak RSS
is each process's VmHWM (the kernel's high-water mark), polled every 0.2 s from /proc until it
exits: the driver (the `mlops` process) and each Dask worker process. Both outputs must be equal.
Figures go to stdout and bench/out/predict/cluster.json.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict import OUT, make_rows
from serve import MODEL_NAME, PROJECT, prepare_project


def _status_kb(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, flags=re.MULTILINE)
    return int(found.group(1)) if found else None


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            text = (task / "children").read_text().split()
            found.extend(int(child) for child in text)
        return found
    except OSError:
        return []


def _is_worker(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"spawn_main" in command  # the Dask worker processes (not the resource tracker)


def run(command: list[str]) -> dict[str, Any]:
    """Wall seconds, output and peak RSS (MB) of the process and of its worker processes."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks: dict[int, int] = {}
    workers: set[int] = set()
    while True:
        for pid in [proc.pid, *_children(proc.pid)]:
            if pid != proc.pid and pid not in workers and _is_worker(pid):
                workers.add(pid)
            high = _status_kb(pid, "VmHWM")
            if high is not None:
                peaks[pid] = max(peaks.get(pid, 0), high)
        done, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.2)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read().decode() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed:\n{output[-2000:]}")
    found = re.search(r"in ([\d.]+)s \(", output)
    return {
        "wall_s": wall,
        # CPU of the whole tree (the workers are the driver's reaped children): what it costs
        # when no core is free, whatever the number of processes.
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "scoring_s": float(found.group(1)) if found else None,
        "driver_peak_rss_mb": peaks.get(proc.pid, 0) / 1024,
        "worker_peak_rss_mb": [peaks[pid] / 1024 for pid in sorted(workers)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2, help="--cluster local:N")
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    info = prepare_project()
    uri = f"models:/{MODEL_NAME}@champion"
    path = make_rows(args.rows)
    mlops = str(Path(sys.executable).parent / "mlops")
    here, there = OUT / "scored-here.parquet", OUT / "scored-cluster.parquet"
    base = [mlops, "-q", "predict", str(path), "-m", uri, "--batch-size", str(args.batch_size)]
    base.insert(4, "")  # the output path goes here
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    try:
        state = "loaded (a process burns one core)" if args.load else "quiet"
        print(f"{args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB Parquet), model {uri} "
              f"(v{info['version']}), {os.cpu_count()} CPUs, {state}; load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
        in_process = run([*base[:4], str(here), *base[5:]])
        cluster = run([*base[:4], str(there), *base[5:], "--cluster", f"local:{args.workers}"])
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    import pyarrow.parquet as pq

    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    same = pq.read_table(here).equals(pq.read_table(there))
    here.unlink()
    there.unlink()
    for figures in (in_process, cluster):
        figures["rows_per_s"] = args.rows / figures["wall_s"]
    ratio = cluster["rows_per_s"] / in_process["rows_per_s"]
    print(
        f"in-process:        {in_process['rows_per_s']:>9,.0f} rows/s ({in_process['wall_s']:.1f}s "
        f"wall, {in_process['scoring_s']:.1f}s scoring, {in_process['cpu_s']:.0f} CPU s); peak RSS "
        f"{in_process['driver_peak_rss_mb']:,.0f} MB"
    )
    workers = ", ".join(f"{mb:,.0f}" for mb in cluster["worker_peak_rss_mb"])
    print(
        f"--cluster local:{args.workers}: {cluster['rows_per_s']:>9,.0f} rows/s "
        f"({cluster['wall_s']:.1f}s wall incl. cluster start, {cluster['scoring_s']:.1f}s "
        f"scoring, {cluster['cpu_s']:.0f} CPU s); peak RSS driver {cluster['driver_peak_rss_mb']:,.0f} MB, workers "
        f"{workers} MB"
    )
    print(f"throughput ratio cluster / in-process: {ratio:.2f}x; outputs equal: {same}")
    result = {"rows": args.rows, "workers": args.workers, "load": args.load,
              "in_process": in_process, "cluster": cluster, "ratio": ratio, "equal": same,
              "loadavg_after": os.getloadavg()}  # fmt: skip
    name = "cluster-loaded.json" if args.load else "cluster.json"
    (OUT / name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
