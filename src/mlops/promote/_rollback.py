"""`mlops rollback`: move the champion back to `previous` (or a given version)."""

from __future__ import annotations

import time

from mlops import registry
from mlops.errors import (
    ModelLoadError,
    RegistryError,
)
from mlops.project import Project
from mlops.promote._common import (
    PromotionResult,
    decided_by,
    now,
    record_paths,
    write_champion,
    write_record,
)
from mlops.promote.lock import promotion_lock
from mlops.promote.record import DecisionRecord, ModelSide
from mlops.tracking import Store, tags


def run_rollback(
    project: Project, store: Store, to: str | None = None, *, reason: str = ""
) -> PromotionResult:
    """Move `champion` back to `previous` (or a given version) after checking that model loads.

    The version rolled back from is tagged: `mlops promote` refuses it unless forced.
    """
    names = store.names
    # Reach the store first: an unreachable one is a one-line error, not a lock-file traceback.
    store.client  # noqa: B018
    with promotion_lock(store):
        started = time.perf_counter()
        current = registry.get_alias(store, names.champion_alias)
        if to is not None:
            target = registry.resolve(store, to)
        else:
            previous = registry.get_alias(store, names.previous_alias)
            if previous is None:
                raise RegistryError(
                    f"registry: {names.model_name!r} has no {names.previous_alias!r} alias; "
                    "use `mlops rollback --to VERSION`"
                )
            target = previous
        if current is not None and current.version == target.version:
            raise RegistryError(f"registry: v{target.version} is already the champion")
        try:
            registry.load_model(store, target.uri)
        except (ModelLoadError, RegistryError) as exc:
            raise ModelLoadError(f"refusing rollback to v{target.version}: {exc}") from exc
        aliases = {names.champion_alias: target.version}
        if current is not None:
            registry.set_alias(store, names.previous_alias, current.version)
            aliases[names.previous_alias] = current.version
        registry.set_alias(store, names.champion_alias, target.version)
        decided_at = now()
        if current is not None:
            json_path, _ = record_paths(project, "rollback")
            registry.set_version_tags(
                store,
                current.version,
                {
                    tags.ROLLED_BACK: f"rolled back to v{target.version} at {decided_at} "
                    f"({project.relative(json_path)})"
                },
            )
        if target.tags.get(tags.ROLLED_BACK):
            # A person chose this version again: it may be promoted again later.
            registry.set_version_tags(store, target.version, {tags.ROLLED_BACK: ""})
        record = DecisionRecord(
            action="rollback",
            verdict="rolled_back",
            model_name=names.model_name,
            reason=reason,
            decided_by=decided_by(),
            decided_at=decided_at,
            candidate=ModelSide(
                run_id=target.run_id,
                model_uri=target.uri,
                version=target.version,
                lineage=store.lineage(target.run_id),
            ),
            champion=None
            if current is None
            else ModelSide(
                run_id=current.run_id,
                model_uri=current.uri,
                version=current.version,
                lineage=store.lineage(current.run_id),
            ),
            aliases=aliases,
            message=f"champion v{current.version if current else '-'} -> v{target.version}",
            timings={"registry_s": round(time.perf_counter() - started, 4)},
        )
        result = write_record(project, record, "rollback")
        write_champion(project, store)
    return result
