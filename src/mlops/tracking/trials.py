"""Child runs of a parent run, one per tuning trial, logged with MlflowClient directly.

A trial may run in another process (a Dask worker): it gets the store's URI, not a `Store`,
and keeps one client per process. Three calls per trial (create, one batch, terminate) keep the
per-trial overhead small; the run is created when the trial starts, so a worker that dies
mid-trial leaves a RUNNING child that the driver (or the orphan reaper) ends KILLED.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mlops.tracking import tags
from mlops.tracking.processes import process_tags

#: MLflow's own tags: a child run's parent, and every run's display name.
PARENT_RUN_ID = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
#: Run statuses that end a run.
TERMINAL = ("FINISHED", "FAILED", "KILLED")

_CLIENTS: dict[str, Any] = {}


def client_for(uri: str) -> Any:
    """One MlflowClient per tracking URI and process (a worker reuses it across trials)."""
    found = _CLIENTS.get(uri)
    if found is None:
        from mlops.tracking.store import _quiet_mlflow

        _quiet_mlflow()
        import mlflow

        found = _CLIENTS[uri] = mlflow.MlflowClient(tracking_uri=uri)
    return found


def start_child_run(
    uri: str, experiment_id: str, parent_run_id: str, name: str, values: Mapping[str, str]
) -> str:
    """A RUNNING child run of `parent_run_id`, owned by this process (its pid is tagged)."""
    run = client_for(uri).create_run(
        experiment_id,
        start_time=int(time.time() * 1000),
        tags={PARENT_RUN_ID: parent_run_id, RUN_NAME: name, **process_tags(), **values},
        run_name=name,
    )
    return str(run.info.run_id)


def finish_child_run(
    uri: str,
    run_id: str,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    values: Mapping[str, str],
    status: str,
) -> None:
    """Log a trial's params, metrics and tags in one batch, and end its run with `status`."""
    from mlflow.entities import Metric, Param, RunTag

    client = client_for(uri)
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
        params=[Param(key, str(value)[:6000]) for key, value in params.items()],
        tags=[RunTag(key, str(value)) for key, value in values.items()],
    )
    client.set_terminated(run_id, status=status, end_time=now)


def child_runs(client: Any, experiment_id: str, parent_run_id: str) -> list[Any]:
    """Every child run of a parent (any status), oldest first."""
    return list(
        client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{PARENT_RUN_ID}` = '{parent_run_id}'",
            max_results=5000,
            order_by=["attributes.start_time ASC"],
        )
    )


def kill_running_children(
    client: Any, experiment_id: str, parent_run_id: str, reason: str
) -> list[str]:
    """End KILLED every child of the parent still RUNNING (its trial's process is gone)."""
    killed = []
    for found in child_runs(client, experiment_id, parent_run_id):
        if found.info.status == "RUNNING":
            client.set_terminated(found.info.run_id, status="KILLED")
            client.set_tag(found.info.run_id, tags.REAPED, reason)
            killed.append(str(found.info.run_id))
    return killed
