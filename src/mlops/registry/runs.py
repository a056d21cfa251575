"""The registered versions (and their aliases) of given runs: `mlops runs list|compare`.

The embedded SQLite store is read with one query on MLflow's registry tables (no MLflow
import: `mlops.tracking.readonly`, as `lookup` reads it); any other store lists the model's versions through the MLflow client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlops.registry.local import ModelVersionInfo
from mlops.tracking.readonly import Unavailable, connect, workspace_filter

if TYPE_CHECKING:
    from pathlib import Path

    from mlops.tracking import Store


def versions_by_run(store: Store, run_ids: Sequence[str]) -> dict[str, list[ModelVersionInfo]]:
    """Run id -> the configured model's versions registered from it, newest first."""
    if not run_ids or not store.exists():
        return {}
    location = store.location
    try:
        if not location.is_sqlite or location.path is None:
            raise Unavailable("not an SQLite store")
        found = _sqlite_versions(location.path, store.model_name, run_ids)
    except Unavailable:
        from mlops import registry

        wanted = set(run_ids)
        found = [v for v in registry.list_versions(store) if v.run_id in wanted]
    by_run: dict[str, list[ModelVersionInfo]] = {}
    for info in sorted(found, key=lambda v: int(v.version), reverse=True):
        by_run.setdefault(info.run_id or "", []).append(info)
    return by_run


def _sqlite_versions(database: Path, name: str, run_ids: Sequence[str]) -> list[ModelVersionInfo]:
    found: list[ModelVersionInfo] = []
    with connect(database) as conn:
        where, extra = workspace_filter(conn, "model_versions")
        alias_where, alias_extra = workspace_filter(conn, "registered_model_aliases")
        aliases: dict[str, list[str]] = {}
        for alias, version in conn.execute(
            f"SELECT alias, version FROM registered_model_aliases WHERE name = ?{alias_where}",
            (name, *alias_extra),
        ):
            aliases.setdefault(str(version), []).append(str(alias))
        for start in range(0, len(run_ids), 500):
            part = list(run_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for version, run_id, source, status, created in conn.execute(
                "SELECT version, run_id, source, status, creation_time FROM model_versions "
                f"WHERE name = ? AND run_id IN ({marks}) "
                f"AND current_stage != 'Deleted_Internal'{where}",
                (name, *part, *extra),
            ):
                found.append(
                    ModelVersionInfo(
                        name=name,
                        version=str(version),
                        aliases=tuple(sorted(aliases.get(str(version), []))),
                        run_id=run_id,
                        source=str(source or ""),
                        created_ms=int(created or 0),
                        status=str(status or ""),
                    )
                )
    return found
