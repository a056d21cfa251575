"""`mlops tune`: trials on a Dask LocalCluster vs in-process, the per-trial MLflow child-run
overhead, and a plain Optuna + MLflow script doing the same trials.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tune.py [--rows 50000] [--trials 20] [--folds 5]
        [--workers 2] [--runs 50] [--server] [--load] [--skip cluster,plain]

A fresh project (`mlops init` on a seeded synthetic binary dataset, then ingest and split), a
small HistGradientBoosting space, no pruning (every trial fits all folds, so the runs compare
like for like), one native thread per fit. Each figure is a fresh `mlops tune --fresh` process:
(a) `--cluster local:N` vs in-process, cluster start included; (b) the three MLflow calls of a
trial's child run (create, one batch, terminate) against the SQLite store, and with `--server`
against `mlflow server` on the same kind of store; (c) a plain script (Optuna in memory, TPE
with the same seed, the same sklearn pipeline and folds, `mlflow.start_run(nested=True)` per
trial as Optuna's MLflow callback does) vs in-process `mlops tune`. `--load`: a second process
burns one core throughout. Goals: (a) >= 1.5x, (b) <= 50 ms, (c) <= 1.05x.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import env, run

VENV = Path(sys.executable).parent.parent
MLOPS = str(VENV / "bin" / "mlops")
SPACE = """\
    hist_gradient_boosting:
      learning_rate: {type: log, low: 0.05, high: 0.3}
      max_iter: {type: int, low: 20, high: 60, step: 10}
      max_leaf_nodes: {type: int, low: 8, high: 32}
"""

PLAIN = """
import sys, time, warnings
import mlflow, optuna
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from mlops.project import open_project
from mlops.data import load_schema, split_xy
from mlops import artifacts
from mlops.features import build_preprocessor
from mlops.train import build_estimator
from mlops.tune import suggest
warnings.simplefilter("ignore")
trials, folds = int(sys.argv[1]), int(sys.argv[2])
project = open_project(None, overrides=("tune.pruner=none", "train.n_jobs=1"))
params = project.params
schema = load_schema(project.paths.schema_file)
X, y = split_xy(artifacts.read_table(project.paths.train), schema)
mlflow.set_tracking_uri(f"sqlite:///{project.root / 'plain.db'}")
mlflow.set_experiment("plain")
space = params.tune.space[params.model.estimator]
seed = params.split.seed
def objective(trial):
    values = suggest(trial, space)
    model = params.model.model_copy(update={"params": {**params.model.active(), **values}})
    pipe = Pipeline([("features", build_preprocessor(schema)),
                     ("model", build_estimator(schema.task, model, seed))])
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(pipe, X, y, cv=cv, scoring="roc_auc")
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
        mlflow.log_params(values)
        mlflow.log_metrics({"roc_auc_mean": scores.mean(), "roc_auc_std": scores.std()})
    return scores.mean()
optuna.logging.set_verbosity(optuna.logging.WARNING)
with mlflow.start_run(run_name="plain-study"):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    mlflow.log_metric("best", study.best_value)
print(study.best_value)
"""


def make_project(work: Path, rows: int) -> Path:
    import pandas as pd
    from sklearn.datasets import make_classification

    features, target = make_classification(
        n_samples=rows, n_features=20, n_informative=8, flip_y=0.05, random_state=0
    )
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(features.shape[1])])
    frame["label"] = target
    source = work / "synthetic.csv"
    frame.to_csv(source, index=False)
    project = work / "synthetic"
    run([MLOPS, "init", str(project), "--source", str(source), "--target", "label"], work)
    params = project / "params.yaml"
    lines = params.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  space:")) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("    "))
    params.write_text("".join([*lines[:start], SPACE, *lines[end:]]), encoding="utf-8")
    run([MLOPS, "data", "ingest"], project)
    run([MLOPS, "data", "split"], project)
    return project


def tune(project: Path, trials: int, folds: int, *extra: str) -> tuple[float, dict[str, object]]:
    seconds, out = run(
        [MLOPS, "--set", f"tune.cv={folds}", "--set", "tune.pruner=none", "--set",
         "train.n_jobs=1", "tune", "--fresh", "--trials", str(trials), "--json", *extra],
        project,
    )  # fmt: skip
    return seconds, json.loads(out)


def child_run_overhead(uri: str, runs: int) -> list[float]:
    """Milliseconds per trial for the child run's three MLflow calls (warm client)."""
    import mlflow

    from mlops.tracking import trials

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("overhead")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("overhead")
    parent = client.create_run(experiment_id).info.run_id
    params = {"learning_rate": 0.0734, "max_iter": 40, "max_leaf_nodes": 17}
    metrics = {f"cv_m{i}_{s}": 0.9 for i in range(11) for s in ("mean", "std")}
    metrics.update(folds=5.0, duration_s=1.0)
    timings = []
    for number in range(runs + 3):
        start = time.perf_counter()
        run_id = trials.start_child_run(uri, experiment_id, parent, f"trial-{number}", {})
        trials.finish_child_run(
            uri, run_id, params=params, metrics=metrics, values={}, status="FINISHED"
        )
        if number >= 3:  # warm-up: connection, first queries
            timings.append((time.perf_counter() - start) * 1000)
    client.set_terminated(parent)
    return timings


@contextlib.contextmanager
def mlflow_server(work: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [str(VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{work / 'server.db'}", "--workers", "1"],
        cwd=work, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.5)
        time.sleep(2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50, help="child runs timed for (b)")
    parser.add_argument("--server", action="store_true", help="(b) also against mlflow server")
    parser.add_argument("--load", action="store_true", help="burn one core meanwhile")
    parser.add_argument("--skip", default="", help="comma list of: cluster, plain")
    parser.add_argument("--keep", type=Path, help="copy the project here at the end")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.load else None
    mode = "loaded" if args.load else "quiet"
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-bench-tune-") as tmp:
            work = Path(tmp)
            project = make_project(work, args.rows)
            size = f"{args.rows} rows, {args.trials} trials x {args.folds}-fold CV ({mode})"
            print(f"mlops tune: {size}")
            serial, report = tune(project, args.trials, args.folds)
            print(f"  in-process            {serial:7.1f} s  best {report['metric']} "
                  f"{report['best']['score']:.4f}")  # type: ignore[index]  # fmt: skip
            if "cluster" not in skip:
                spec = f"local:{args.workers}"
                parallel, _ = tune(project, args.trials, args.folds, "--cluster", spec)
                print(f"  --cluster {spec:<10}  {parallel:7.1f} s  = {serial / parallel:.2f}x "
                      "faster (cluster start included; goal >= 1.5x)")  # fmt: skip
            if "plain" not in skip:
                script = work / "plain.py"
                script.write_text(PLAIN, encoding="utf-8")
                python = str(VENV / "bin" / "python")
                plain, _ = run([python, str(script), str(args.trials), str(args.folds)], project)
                print(f"  plain Optuna + MLflow {plain:7.1f} s; mlops tune in-process = "
                      f"{serial / plain:.2f}x its time (goal <= 1.05x)")  # fmt: skip
            timings = child_run_overhead(f"sqlite:///{project / 'mlflow.db'}", args.runs)
            print(f"  child run per trial, SQLite: median {statistics.median(timings):.1f} ms, "
                  f"p90 {sorted(timings)[int(len(timings) * 0.9)]:.1f} ms (goal <= 50 ms)")  # fmt: skip
            if args.server:
                with mlflow_server(work) as uri:
                    timings = child_run_overhead(uri, args.runs)
                print(f"  child run per trial, mlflow server: median "
                      f"{statistics.median(timings):.1f} ms, "
                      f"p90 {sorted(timings)[int(len(timings) * 0.9)]:.1f} ms")  # fmt: skip
            if args.keep:
                shutil.copytree(project, args.keep, dirs_exist_ok=True)
    finally:
        if burner is not None:
            burner.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
