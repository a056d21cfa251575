"""`run_tuning()`: the driver. It holds the Optuna study (ask and tell, in `_plan`) and the
MLflow parent run, and writes the report."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import artifacts, catalog, cluster, tracking
from mlops.errors import ConfigError, DataError, StageOrderError, first_line
from mlops.project import Project
from mlops.tracking import Store, tags, trials
from mlops.tune._plan import Direction, Plan, Progress, execute
from mlops.tune._space import study_key
from mlops.tune._study import PARENT_RUN_ATTR, fail_stale_trials, open_study, parent_run
from mlops.tune._study import storage_url as study_storage

log = logging.getLogger(__name__)

#: `reports/tune.json`, and the folder of its plots.
REPORT_FILE = "tune.json"
PLOTS_DIR = "tune"


@dataclass(frozen=True)
class TuneResult:
    study: str
    storage: str
    metric: str
    direction: str
    estimator: str
    best_trial: int
    best_params: dict[str, Any]
    best_value: float
    best_std: float
    complete: int
    pruned: int
    failed: int
    new: int
    wanted: int
    parent_run_id: str
    report: Path
    cluster: str | None
    seconds: float
    killed_runs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "estimator": self.estimator,
            "metric": self.metric,
            "direction": self.direction,
            "best": {
                "trial": self.best_trial,
                "params": self.best_params,
                "score": self.best_value,
                "std": self.best_std,
            },
            "trials": {
                "wanted": self.wanted,
                "complete": self.complete,
                "pruned": self.pruned,
                "failed": self.failed,
                "this_run": self.new,
            },
            "parent_run_id": self.parent_run_id,
            "cluster": self.cluster,
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------- the run


def _quiet_workers() -> contextlib.AbstractContextManager[Any]:
    """Workers a LocalCluster starts here run without Dask's statistical profiler (it samples
    every thread's stack every 10 ms: ~10% of a single-threaded fit on a busy host)."""
    try:
        import dask
    except ImportError:  # cluster.connect says which extra to install
        return contextlib.nullcontext()
    return dask.config.set({"distributed.worker.profile.enabled": False})  # type: ignore[no-any-return]


def _probe(spec: cluster.ClusterSpec) -> None:
    """A scheduler address where nothing listens fails at once (Dask would retry until its
    connect timeout); one that accepts is then connected to by Dask itself."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(str(spec.address))
    host, port = parts.hostname or "", parts.port or 8786
    try:
        with socket.create_connection((host, port), timeout=cluster.CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or first_line(exc)
        raise cluster.ClusterError(
            f"cluster {spec.address}: no Dask scheduler answers ({reason})"
        ) from exc


def _plan_inputs(project: Project) -> tuple[str, dict[str, Any], str]:
    """The estimator, its search space, and the md5 of the training split (checked inputs)."""
    from mlops.train import require_valid_model

    params = project.params
    require_valid_model(project)  # names and range ends against sklearn, before any work
    estimator = params.model.estimator
    space = params.tune.space.get(estimator)
    if not space:
        raise ConfigError(
            f"{project.config.params_path}: tune.space.{estimator}: no search space for the "
            f"chosen estimator (model.estimator: {estimator}); add one, e.g. "
            f"tune.space.{estimator}.<param>: {{type: int, low: 1, high: 10}}"
        )
    paths = project.paths
    for path, command in (
        (paths.schema_file, "mlops data ingest"),
        (paths.train, "mlops data split"),
    ):
        if not path.exists():
            raise StageOrderError(f"{path}: not found; run `{command}` first")
    return estimator, dict(space), artifacts.file_md5(paths.train)


def _metric(project: Project) -> tuple[str, Direction]:
    params = project.params
    metric = params.tune.metric or params.gate.primary
    if metric is None:
        from mlops.data import load_schema, split_xy
        from mlops.evaluate import default_primary

        schema = load_schema(project.paths.schema_file)
        target = split_xy(artifacts.read_table(project.paths.train), schema)[1]
        metric = default_primary(params.data.task, target)
    direction: Direction = "minimize" if metric in catalog.LOWER_IS_BETTER else "maximize"
    return metric, direction


def _study_name(project: Project, estimator: str, metric: str, seed: int, train_md5: str) -> str:
    params = project.params
    fixed = {
        k: v for k, v in params.model.active().items() if k not in params.tune.space[estimator]
    }
    key = study_key(
        {
            "space": {
                k: v.model_dump(mode="json") for k, v in params.tune.space[estimator].items()
            },
            "fixed": fixed,
            "class_weight": params.model.class_weight,
            "cv": params.tune.cv,
            "metric": metric,
            "seed": seed,
            "pruner": params.tune.pruner,
            "task": params.data.task,
            "target": params.data.target,
            "train_md5": train_md5,
        }
    )
    return f"{project.settings.tracking.experiment}-{estimator}-{key}"


def run_tuning(
    project: Project,
    store: Store,
    *,
    trials_wanted: int | None = None,
    timeout: float | None = None,
    cluster_spec: str | None = None,
    study_name: str | None = None,
    fresh: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> TuneResult:
    """Search `tune.space` for the chosen estimator; resume the study when it exists.

    `trials_wanted`/`timeout` override `tune.trials`/`tune.timeout`; `cluster_spec` (else
    `tune.cluster` of the config) runs the trials on Dask. Writes `reports/tune.json` and its
    plots, and logs a parent run with one child run per trial.
    """
    started = time.monotonic()
    params = project.params
    tune = params.tune
    spec = None
    if cluster_spec is not None:
        spec = cluster.parse(cluster_spec)
    elif project.settings.tune.cluster is not None:
        spec = cluster.parse(
            project.settings.tune.cluster, key=f"{project.config.config_path}: tune.cluster"
        )
    wanted = trials_wanted if trials_wanted is not None else tune.trials
    if wanted < 1:
        raise ConfigError(f"--trials: needs at least 1 (got {wanted})")
    if spec is not None and not spec.local:
        _probe(spec)
    estimator, space, train_md5 = _plan_inputs(project)
    request = _Request(
        estimator=estimator,
        space=space,
        train_md5=train_md5,
        wanted=wanted,
        timeout=timeout if timeout is not None else tune.timeout,
        spec=spec,
        study_name=study_name,
        fresh=fresh,
        progress=progress,
        started=started,
    )
    with contextlib.ExitStack() as stack:
        # The cluster first: an address nobody answers at fails before any study or run exists.
        client = None
        if spec is not None:
            stack.enter_context(_quiet_workers())
            client = stack.enter_context(cluster.connect(spec))
        return _tune(project, store, request, client)


@dataclass(frozen=True)
class _Request:
    """What `run_tuning` was asked for, checked."""

    estimator: str
    space: dict[str, Any]
    train_md5: str
    wanted: int
    timeout: float | None
    spec: cluster.ClusterSpec | None
    study_name: str | None
    fresh: bool
    progress: Callable[[Progress], None] | None
    started: float


def _tune(project: Project, store: Store, request: _Request, client: Any | None) -> TuneResult:
    params = project.params
    tune = params.tune
    estimator, space, spec = request.estimator, request.space, request.spec
    metric, direction = _metric(project)
    seed = tune.seed if tune.seed is not None else params.split.seed
    name = request.study_name or _study_name(project, estimator, metric, seed, request.train_md5)
    url = study_storage(project, store)
    study = open_study(
        url, name, direction=direction, seed=seed, pruner=tune.pruner, fresh=request.fresh,
        parallel=spec is not None,
    )  # fmt: skip
    fail_stale_trials(study)
    limit = request.timeout
    started = request.started
    plan = Plan(
        project=project,
        store=store,
        study=study,
        space=space,
        metric=metric,
        direction=direction,
        seed=seed,
        storage=url,
        wanted=request.wanted,
        deadline=started + limit if limit is not None else None,
        n_jobs=params.train.n_jobs if params.train.n_jobs is not None or spec is None else 1,
        progress=request.progress,
    )
    resumed = parent_run(study, store)
    git = tracking.git_state(project.root)
    run_label = f"tune-{tracking.run_name(params.model, git, tracking.dvc_experiment())}"
    with store.run(run_id=resumed, run_name=None if resumed else run_label) as run_id:
        plan.parent_run_id = run_id
        mlflow_client, experiment = store.client, store.experiment_id
        stale = trials.kill_running_children(
            mlflow_client, experiment, run_id, "tuning interrupted"
        )
        if resumed is None:
            study.set_user_attr(PARENT_RUN_ATTR, run_id)
            tracking.log_params(
                {
                    "tune.study": name,
                    "tune.estimator": estimator,
                    "tune.space": json.dumps(
                        {k: v.model_dump(mode="json") for k, v in space.items()}
                    ),
                    "tune.cv": tune.cv,
                    "tune.metric": metric,
                    "tune.direction": direction,
                    "tune.seed": seed,
                    "tune.pruner": tune.pruner,
                }
            )
        tracking.set_tags(
            {
                **tracking.lineage_tags(project.config, {"train": request.train_md5}, git),
                tags.STAGE: "tune",
                tags.ESTIMATOR: estimator,
                tags.STUDY: name,
            }
        )
        execute(plan, client)
        killed = stale + trials.kill_running_children(
            mlflow_client, experiment, run_id, "trial process gone (worker lost)"
        )
        result = _finish(plan, estimator, run_id, spec, started, killed)
    return result


def _finish(
    plan: Plan,
    estimator: str,
    run_id: str,
    spec: cluster.ClusterSpec | None,
    started: float,
    killed: list[str],
) -> TuneResult:
    from optuna.trial import TrialState

    from mlops.tune._report import write_plots

    finished = plan.finished()
    count = {s: sum(1 for t in finished if t.state == s) for s in TrialState}
    best = plan.best()
    tracking.log_metrics(
        {
            "trials_complete": count[TrialState.COMPLETE],
            "trials_pruned": count[TrialState.PRUNED],
            "trials_failed": count[TrialState.FAIL],
            "trials_wanted": plan.wanted,
        }
    )
    if best is None:
        errors = [t.user_attrs.get("error") for t in finished if t.user_attrs.get("error")]
        detail = f" (first error: {errors[0]})" if errors else ""
        raise DataError(
            f"tuning {plan.study.study_name}: no trial completed of {len(finished)}{detail}"
        )
    best_params = dict(best.user_attrs.get("params") or best.params)
    best_std = float(best.user_attrs.get("std") or 0.0)
    tracking.log_metrics(
        {f"best_{plan.metric}": float(best.value), f"best_{plan.metric}_std": best_std}
    )
    reports = plan.project.paths.reports
    result = TuneResult(
        study=plan.study.study_name,
        storage=tracking.redact(plan.storage),
        metric=plan.metric,
        direction=plan.direction,
        estimator=estimator,
        best_trial=int(best.number),
        best_params=best_params,
        best_value=float(best.value),
        best_std=best_std,
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAIL],
        new=plan.new_done,
        wanted=plan.wanted,
        parent_run_id=run_id,
        report=reports / REPORT_FILE,
        cluster=str(spec) if spec is not None else None,
        seconds=time.monotonic() - started,
        killed_runs=killed,
    )
    artifacts.write_json(result.report, result.to_json())
    folder = reports / PLOTS_DIR
    summary = artifacts.write_json(
        folder / "trials.json", {**result.to_json(), "all": list(trial_rows(plan.study))}
    )
    plots = [summary, *write_plots(plan.study, folder)]
    tracking.log_artifacts(result.report, "tune")
    for path in plots:
        tracking.log_artifacts(path, "tune")
    tracking.set_tags({f"{tags.PREFIX}tune.best_params": json.dumps(best_params, sort_keys=True)})
    return result


def trial_rows(study: Any) -> Iterator[dict[str, Any]]:
    """Every trial of a study as a plain row (number, state, value, std, params)."""
    for trial in study.get_trials(deepcopy=False):
        yield {
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value,
            "std": trial.user_attrs.get("std"),
            "params": trial.user_attrs.get("params") or trial.params,
        }
