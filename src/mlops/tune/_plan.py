"""The study side of a tuning run: asking Optuna for trials, running them (in-process one after
the other, or on a Dask cluster one per worker), and telling Optuna how each ended."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops import cluster
from mlops.errors import first_line
from mlops.project import Project
from mlops.tracking import Store
from mlops.tune._space import suggest
from mlops.tune._trial import (
    COMPLETE,
    FAIL,
    PRUNED,
    TrialResult,
    TrialTask,
    register_study,
    run_trial,
)

log = logging.getLogger(__name__)

Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class Progress:
    """After each trial: how far the study is, and the best so far."""

    done: int
    total: int
    state: str
    metric: str
    best: float | None
    best_std: float | None
    eta_seconds: float | None


@dataclass
class Plan:
    """What a tuning run needs, resolved once from the project."""

    project: Project
    store: Store
    study: Any
    space: dict[str, Any]
    metric: str
    direction: Direction
    seed: int
    storage: str
    wanted: int
    deadline: float | None
    n_jobs: int | None
    parent_run_id: str = ""
    progress: Callable[[Progress], None] | None = None
    asked: dict[int, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    new_done: int = 0

    def finished(self) -> list[Any]:
        from optuna.trial import TrialState

        done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return [t for t in self.study.get_trials(deepcopy=False) if t.state in done]

    def remaining(self) -> int:
        return max(0, self.wanted - len(self.finished()))

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def ask(self) -> TrialTask:
        trial = self.study.ask()
        params = suggest(trial, self.space)
        trial.set_user_attr("params", params)
        self.asked[trial.number] = trial
        project = self.project
        return TrialTask(
            study_name=self.study.study_name,
            storage=self.storage,
            pruner=project.params.tune.pruner,
            trial_id=trial._trial_id,
            number=trial.number,
            params=params,
            model=project.params.model.model_dump(mode="json"),
            task=project.params.data.task,
            train_path=str(project.paths.train),
            schema_path=str(project.paths.schema_file),
            folds=project.params.tune.cv,
            seed=self.seed,
            metric=self.metric,
            tracking_uri=self.store.uri,
            experiment_id=self.store.experiment_id,
            parent_run_id=self.parent_run_id,
            n_jobs=self.n_jobs,
        )

    def tell(self, result: TrialResult) -> None:
        from optuna.trial import TrialState

        trial = self.asked.pop(result.number)
        trial.set_user_attr("std", result.std.get(self.metric))
        trial.set_user_attr("run_id", result.run_id)
        trial.set_user_attr("folds", result.folds)
        if result.error:
            trial.set_user_attr("error", result.error[:2000])
        if result.state == COMPLETE:
            self.study.tell(result.number, result.mean[self.metric])
        elif result.state == PRUNED:
            self.study.tell(result.number, state=TrialState.PRUNED)
        else:
            self.study.tell(result.number, state=TrialState.FAIL)
        if result.state == FAIL:
            log.warning("trial %d failed: %s", result.number, result.error)
        self.new_done += 1
        if self.progress is not None:
            self.progress(self._progress(result.state))

    def abandon(self) -> None:
        """Trials asked but never told (an interrupt): FAIL, so the study stays consistent."""
        from optuna.trial import TrialState

        for number in list(self.asked):
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
            self.asked.pop(number)

    def best(self) -> Any | None:
        from optuna.trial import TrialState

        complete = [t for t in self.finished() if t.state == TrialState.COMPLETE]
        if not complete:
            return None
        pick = min if self.direction == "minimize" else max
        return pick(complete, key=lambda t: float(t.value))

    def _progress(self, state: str) -> Progress:
        best = self.best()
        done = len(self.finished())
        elapsed = time.monotonic() - self.started
        left = max(0, self.wanted - done)
        eta = elapsed / self.new_done * left if self.new_done else None
        return Progress(
            done,
            self.wanted,
            state,
            self.metric,
            float(best.value) if best is not None else None,
            best.user_attrs.get("std") if best is not None else None,
            eta,
        )


# --------------------------------------------------------------------------- executing trials


def _in_process(plan: Plan) -> None:
    register_study(plan.storage, plan.study.study_name, plan.study)
    while plan.remaining() > 0 and not plan.out_of_time():
        plan.tell(run_trial(plan.ask()))


def _on_cluster(plan: Plan, client: Any) -> None:
    """Keep every worker busy: one trial per worker in flight, a new one asked as each ends."""
    from distributed import as_completed

    try:  # a scheduler without workers would leave every trial queued forever
        client.wait_for_workers(1, timeout=cluster.START_TIMEOUT)
    except TimeoutError as exc:
        raise cluster.ClusterError(
            f"cluster {client.scheduler.address}: no worker joined within "
            f"{cluster.START_TIMEOUT:g} s"
        ) from exc
    slots = max(1, cluster.workers(client))
    pending = as_completed()  # type: ignore[no-untyped-call]
    flight: dict[Any, TrialTask] = {}
    budget = plan.remaining()

    def submit() -> None:
        nonlocal budget
        task = plan.ask()
        key = f"mlops-trial-{task.number}-{uuid.uuid4().hex[:8]}"
        future = client.submit(run_trial, task, key=key, pure=False)
        flight[future] = task
        pending.add(future)  # type: ignore[no-untyped-call]
        budget -= 1

    while budget > 0 and len(flight) < slots and not plan.out_of_time():
        submit()
    for future in pending:
        task = flight.pop(future)
        try:
            result = future.result()
        except Exception as exc:  # KilledWorker, CommClosedError: the worker died
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            result = TrialResult(task.number, FAIL, None, error=reason)
        plan.tell(result)
        if budget > 0 and not plan.out_of_time():
            submit()


def execute(plan: Plan, client: Any | None) -> None:
    try:
        if client is None:
            _in_process(plan)
        else:
            _on_cluster(plan, client)
    except BaseException:
        plan.abandon()
        raise
