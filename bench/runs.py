"""`mlops runs list` on a store with N runs, against MLflow's own listings of the same store.

    .venv/bin/python bench/runs.py [--runs 1000] [--repeat 5] [--load]

A temp project (`mlops init`, penguins) whose SQLite store gets N runs shaped like `mlops
train` + `mlops eval` runs: every flattened param of params.yaml (~80), 21 train/test metrics,
the lineage tags, two dataset inputs. One run is logged through MlflowClient; the other N-1
are copies of its rows with new ids and start times (seconds instead of minutes of logging).
Two of them are registered (v1 `champion`, v2).

Timed as fresh processes, median of `--repeat` after one warm-up each, interleaved:
`mlops runs list` (20 newest; `-n N`: all, as `mlflow runs list` shows them all), `mlops runs list --filter ...` (a simple filter, read directly;
one with LIKE, through MLflow),
`mlops runs compare A B`, `mlflow runs list --experiment-id X` (MLflow's CLI), and
`python -c "import mlflow; mlflow.search_runs([X], max_results=20)"` (import included).
Goal: `mlops runs list` <= 1.5 s at 1,000 runs. `--load` burns one core in a second process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run

BIN = Path(sys.executable).parent
MLOPS = str(BIN / "mlops")
GOAL_SECONDS = 1.5
#: Tables whose rows belong to a run (copied per run), with the run-id column.
RUN_TABLES = ("tags", "params", "metrics", "latest_metrics")


#: `list_runs` + the table, timed in a process that already imported everything (median of 5).
WARM = """
import statistics, time
from mlops.project import open_project
from mlops.runs import list_runs, promote_primary, runs_table
from mlops.tracking import Store
project = open_project()
store = Store.for_project(project)
times = []
for _ in range(5):
    start = time.perf_counter()
    runs_table(list_runs(store, promote_primary(project), limit=20))
    times.append(time.perf_counter() - start)
print(f"list_runs + table {statistics.median(times) * 1000:.1f} ms")
"""


def template_run(project: Path) -> tuple[str, str, str, str]:
    """One run as `mlops train` + `mlops eval` leave it; (store URI, experiment id, run id,
    registered model name)."""
    import warnings

    warnings.simplefilter("ignore")
    os.chdir(project)
    import pandas as pd
    from mlflow.entities import Metric, Param, RunTag

    from mlops.project import open_project
    from mlops.tracking import Store, tags
    from mlops.tracking.lineage import git_state, lineage_tags

    config = open_project(project)
    store = Store.for_project(config)
    client = store.client
    rng = random.Random(0)
    created = client.create_run(store.experiment_id, run_name="hgb-lr0.1-it100-template")
    run_id = created.info.run_id
    stamp = int(time.time() * 1000)
    values = {k: str(v)[:6000] for k, v in config.config.params_flat().items()}
    names = ["accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro",
             "roc_auc", "average_precision", "log_loss", "minority_precision", "minority_recall"]  # fmt: skip
    metrics = [Metric(f"{p}_{n}", rng.random(), stamp, 0) for p in ("train", "test") for n in names]
    metrics.append(Metric("train_fit_seconds", 0.2, stamp, 0))
    lineage = lineage_tags(config.config, {"train": "0" * 32, "test": "1" * 32}, git_state())
    lineage.update({tags.STAGE: "train", tags.ESTIMATOR: "hist_gradient_boosting"})
    lineage[tags.GATE_PASSED] = "true"
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in values.items()],
        tags=[RunTag(k, v) for k, v in lineage.items()],
    )
    store.activate()
    import mlflow
    import mlflow.data.pandas_dataset

    frame = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})
    with mlflow.start_run(run_id=run_id):
        for name, context in (("train", "training"), ("test", "testing")):
            dataset = mlflow.data.pandas_dataset.from_pandas(
                frame, source=name, targets="y", name=name, digest=f"{name:0<32}"
            )
            mlflow.log_input(dataset, context=context)
    client.set_terminated(run_id, "FINISHED", end_time=stamp + 9000)
    return store.uri, store.experiment_id, run_id, store.model_name


def copy_runs(database: Path, run_id: str, count: int) -> list[str]:
    """`count` copies of a run's rows (runs, tags, params, metrics, dataset inputs)."""
    ids = []
    with contextlib.closing(sqlite3.connect(database)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        (row,) = conn.execute("SELECT * FROM runs WHERE run_uuid = ?", (run_id,)).fetchall()
        base = dict(zip(columns, row, strict=True))
        per_table = {
            table: conn.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (run_id,)).fetchall()
            for table in RUN_TABLES
        }
        table_columns = {
            table: [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for table in RUN_TABLES
        }
        inputs = conn.execute(
            "SELECT * FROM inputs WHERE destination_id = ? AND destination_type = 'RUN'", (run_id,)
        ).fetchall()
        input_columns = [r[1] for r in conn.execute("PRAGMA table_info(inputs)")]
        input_tags = {
            row[0]: conn.execute(
                "SELECT * FROM input_tags WHERE input_uuid = ?", (row[0],)
            ).fetchall()
            for row in inputs
        }
        rng = random.Random(1)
        for index in range(count):
            new = uuid.uuid4().hex
            ids.append(new)
            start = base["start_time"] - (index + 1) * 60_000
            values = {
                **base, "run_uuid": new, "name": f"hgb-copy{index}-{new[:7]}",
                "start_time": start, "end_time": start + 9000,
                "artifact_uri": base["artifact_uri"].replace(run_id, new),
            }  # fmt: skip
            conn.execute(
                f"INSERT INTO runs ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                [values[c] for c in columns],
            )
            for table, rows in per_table.items():
                cols = table_columns[table]
                at = cols.index("run_uuid")
                value_at = cols.index("value") if "value" in cols else None
                copied = []
                for source in rows:
                    item = list(source)
                    item[at] = new
                    if table.endswith("metrics") and value_at is not None:
                        item[value_at] = rng.random()
                    copied.append(item)
                conn.executemany(
                    f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                    copied,
                )
            for source in inputs:
                item = dict(zip(input_columns, source, strict=True))
                old_input = item["input_uuid"]
                item.update(input_uuid=uuid.uuid4().hex, destination_id=new)
                conn.execute(
                    f"INSERT INTO inputs ({','.join(input_columns)}) "
                    f"VALUES ({','.join('?' * len(input_columns))})",
                    [item[c] for c in input_columns],
                )
                for tag in input_tags[old_input]:
                    conn.execute(
                        "INSERT INTO input_tags VALUES (?, ?, ?)", (item["input_uuid"], *tag[1:])
                    )
        conn.commit()
    return ids


def register(uri: str, run_ids: list[str], model: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(model)
    for run_id in run_ids:
        client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(model, "champion", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs in the store")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command")
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    parser.add_argument("--keep", action="store_true", help="keep the project and print its path")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlops-bench-runs-"))
    try:
        return bench(work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, args: argparse.Namespace) -> int:
    project = work / "project"
    run(
        [MLOPS, "init", str(project), "--source", "builtin:penguins", "--target", "species", "-y"],
        work,
    )
    started = time.perf_counter()
    uri, experiment, first, model = template_run(project)
    copies = copy_runs(project / "mlflow.db", first, args.runs - 1)
    register(uri, [copies[-1], first], model)
    print(f"store: {args.runs} runs in {time.perf_counter() - started:.1f} s ({project})")

    mlflow_env_uri = f"MLFLOW_TRACKING_URI={uri}"
    search = (
        "import mlflow; mlflow.set_tracking_uri(" + repr(uri) + "); "
        f"mlflow.search_runs(experiment_ids=[{experiment!r}], max_results=20)"
    )
    commands = {
        "mlops runs list": [MLOPS, "runs", "list"],
        "mlops runs list --json": [MLOPS, "runs", "list", "--json"],
        "mlops runs list -n N (all)": [MLOPS, "runs", "list", "-n", str(args.runs)],
        "mlops runs list --filter": [MLOPS, "runs", "list", "--filter", "metrics.test_roc_auc > 0.5"],
        "mlops runs list --filter LIKE": [MLOPS, "runs", "list", "--filter", "attributes.run_name LIKE 'hgb%'"],
        "mlops runs compare A B": [MLOPS, "runs", "compare", first[:8], "@champion"],
        "mlflow runs list": ["env", mlflow_env_uri, str(BIN / "mlflow"), "runs", "list", "--experiment-id", experiment],
        "mlflow.search_runs (20)": [sys.executable, "-c", search],
    }  # fmt: skip
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    try:
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():
            run(command, project)  # warm-up
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(run(command, project)[0])
    finally:
        if burner is not None:
            burner.kill()
    median = {name: statistics.median(values) for name, values in times.items()}
    # The listing itself, in a warm process: what is left after Python, imports, the project.
    _, warm = run([sys.executable, "-c", WARM], project)
    print(f"{args.runs} runs, median of {args.repeat} ({'loaded' if args.load else 'quiet'}):")
    for name, value in median.items():
        print(
            f"  {name:<31} {value:.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f})"
        )
    print(f"  in process, imports done: {warm.strip()}")
    ours = median["mlops runs list"]
    for other in ("mlflow runs list", "mlflow.search_runs (20)"):
        print(f"  {other} / mlops runs list = {median[other] / ours:.2f}x")
    verdict = "met" if ours <= GOAL_SECONDS else "MISSED"
    print(f"mlops runs list: {ours:.2f} s (goal <= {GOAL_SECONDS} s: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
