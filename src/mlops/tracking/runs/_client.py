"""Runs of any store (a tracking server, PostgreSQL), through MlflowClient."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlops.errors import TrackingError, first_line
from mlops.tracking.runs._record import RunRecord, dataset_source

if TYPE_CHECKING:
    from mlops.tracking.store import Store

#: Runs searched for an id prefix on a store read through MLflow.
_PREFIX_SCAN = 5000


def _record(run: Any) -> RunRecord:
    info, data = run.info, run.data
    inputs = getattr(run, "inputs", None)
    datasets = []
    for item in getattr(inputs, "dataset_inputs", None) or []:
        context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
        datasets.append(
            {
                "name": item.dataset.name or "",
                "digest": item.dataset.digest or "",
                "context": context or "",
                "source": dataset_source(item.dataset.source),
            }
        )
    return RunRecord(
        run_id=info.run_id,
        name=info.run_name or "",
        status=info.status or "",
        start_ms=info.start_time,
        end_ms=info.end_time,
        artifact_uri=info.artifact_uri or "",
        params=dict(data.params),
        metrics={k: float(v) for k, v in data.metrics.items()},
        tags=dict(data.tags),
        datasets=sorted(datasets, key=lambda d: d["name"]),
    )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ClientRuns:
    """Any store, through MlflowClient.search_runs / get_run."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _search(self, filter_string: str, limit: int) -> list[Any]:
        from mlflow.exceptions import MlflowException

        store = self.store
        try:
            return list(
                store.client.search_runs(
                    [store.experiment_id],
                    filter_string=filter_string,
                    max_results=limit,
                    order_by=["attributes.start_time DESC"],
                )
            )
        except MlflowException as exc:
            raise TrackingError(
                f"runs filter {filter_string!r}: {first_line(exc)}"
                if filter_string
                else f"tracking store {store.shown}: {first_line(exc)}"
            ) from exc

    def recent(self, limit: int, filter_string: str | None) -> list[RunRecord]:
        return [_record(run) for run in self._search(filter_string or "", limit)]

    def get(self, run_ids: Sequence[str]) -> list[RunRecord]:
        return [_record(self.store.get_run(run_id)) for run_id in run_ids]

    def find(
        self,
        *,
        prefix: str | None = None,
        tags: dict[str, str] | None = None,
        name: str | None = None,
    ) -> list[str]:
        clauses = [f"tags.`{key}` = {_quote(value)}" for key, value in (tags or {}).items()]
        if name is not None:
            clauses.append(f"attributes.run_name = {_quote(name)}")
        limit = _PREFIX_SCAN if prefix is not None else 1000
        found = [run.info.run_id for run in self._search(" AND ".join(clauses), limit)]
        if prefix is not None:
            found = [run_id for run_id in found if run_id.startswith(prefix)]
        return found
