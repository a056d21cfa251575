"""Promote capability: candidate vs champion -> a decision record, aliases moved under a lock."""

from __future__ import annotations

import getpass
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops import artifacts, faults, registry, tracking
from mlops.config import Config
from mlops.data import load_schema, load_split
from mlops.errors import ModelLoadError, PromotionConflictError, RegistryError, StageOrderError
from mlops.evaluate import LOWER_IS_BETTER, default_primary, score_model
from mlops.gates import GateResult, evaluate_gates
from mlops.promote.lock import promotion_lock
from mlops.promote.policy import compare_metrics, regression_check, signature_changes
from mlops.promote.record import DecisionRecord, ModelSide, to_markdown

__all__ = [
    "DecisionRecord",
    "PromotionResult",
    "candidate_run_id",
    "run_promotion",
    "run_rollback",
]

LINEAGE_KEYS = (
    "mlops.git_commit",
    "mlops.git_dirty",
    "mlops.params_sha256",
    "mlops.version",
    "mlops.estimator",
    "mlops.data.train_md5",
    "mlops.data.test_md5",
)


@dataclass(frozen=True)
class PromotionResult:
    record: DecisionRecord
    json_path: Path
    markdown_path: Path


def decided_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def candidate_run_id(config: Config, run_id: str | None) -> str:
    """The given run, or the one recorded by the last `mlops train`."""
    if run_id:
        return run_id
    path = config.settings.paths.run_file
    if not path.exists():
        raise StageOrderError(f"{path}: no trained candidate found; run `mlops train` first")
    record = artifacts.read_json(path)
    if not isinstance(record, dict) or not record.get("run_id"):
        raise StageOrderError(f"{path}: no run_id recorded; run `mlops train` again")
    return str(record["run_id"])


def _lineage(run_id: str | None) -> dict[str, str]:
    if not run_id:
        return {}
    tags = tracking.run_summary(run_id)["lineage"]
    return {key: str(tags[key]) for key in LINEAGE_KEYS if key in tags}


def _write_record(config: Config, record: DecisionRecord, stem: str) -> PromotionResult:
    reports = config.settings.paths.reports
    json_path = artifacts.write_json(reports / f"{stem}.json", record.to_json())
    md_path = artifacts.write_text(reports / f"{stem}.md", to_markdown(record))
    return PromotionResult(record, json_path, md_path)


def _test_data(config: Config) -> tuple[Any, Any, str]:
    schema = load_schema(config.settings.paths.schema_file)
    test = load_split(config, "test")
    if schema.target not in test.columns:
        raise StageOrderError(f"{config.settings.paths.test}: target {schema.target!r} missing")
    return test.drop(columns=[schema.target]), test[schema.target], schema.task


def _score(model: Any, features: Any, target: Any, task: Any, uri: str) -> dict[str, float]:
    try:
        return score_model(model, features, target, task)
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(
            f"{uri}: cannot score the test split ({tracking.first_line(exc)})"
        ) from exc


def _find_version(config: Config, run_id: str) -> registry.ModelVersionInfo | None:
    for info in registry.list_versions(config):
        if info.run_id == run_id:
            return info
    return None


def run_promotion(
    config: Config,
    run_id: str | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    reason: str = "",
) -> PromotionResult:
    """Gate the candidate, re-score the champion on the same split, decide, and record it all."""
    names = config.settings.registry
    candidate_id = candidate_run_id(config, run_id)
    tracking.connect(config.settings.tracking)
    candidate_uri = tracking.logged_model_uri(candidate_id)
    features, target, task = _test_data(config)
    primary = config.params.gate.primary or default_primary(config.params.data.task)

    with promotion_lock(config):
        started = time.perf_counter()
        candidate = registry.load_model(config, candidate_uri)
        cand_metrics = _score(candidate.model, features, target, task, candidate_uri)
        gates = evaluate_gates(cand_metrics, config.params.gate.metrics)
        results: list[GateResult] = list(gates.results)
        champion_info = registry.get_alias(config, names.champion_alias)
        champion_side: ModelSide | None = None
        comparison = []
        changes: list[str] = []
        if champion_info is not None:
            champion = registry.load_model(config, champion_info.uri)
            champ_metrics = _score(champion.model, features, target, task, champion_info.uri)
            comparison = compare_metrics(cand_metrics, champ_metrics, LOWER_IS_BETTER)
            results.append(
                regression_check(
                    primary, cand_metrics, champ_metrics, config.params.gate, LOWER_IS_BETTER
                )
            )
            changes = signature_changes(candidate.inputs, champion.inputs)
            results.append(
                GateResult(
                    name="signature compatible with champion",
                    value=None,
                    threshold="same required columns and types",
                    passed=not changes,
                )
            )
            champion_side = ModelSide(
                run_id=champion_info.run_id,
                model_uri=champion_info.uri,
                version=champion_info.version,
                metrics=champ_metrics,
                lineage=_lineage(champion_info.run_id),
            )
        rescoring = time.perf_counter() - started

        passed = all(r.passed for r in results)
        already = champion_info is not None and champion_info.run_id == candidate_id
        if already:
            verdict = "unchanged"
            message = f"run {candidate_id} is already the champion (v{champion_info.version})"  # type: ignore[union-attr]
        elif passed or force:
            verdict = "promoted"
            failed = [r.name for r in results if not r.passed]
            message = "all gates passed" if passed else f"forced past: {', '.join(failed)}"
        else:
            verdict = "rejected"
            message = "failed: " + ", ".join(r.name for r in results if not r.passed)

        record = DecisionRecord(
            action="promote",
            verdict=verdict,  # type: ignore[arg-type]
            model_name=names.model_name,
            dry_run=dry_run,
            forced=force and not passed and verdict == "promoted",
            reason=reason,
            decided_by=decided_by(),
            decided_at=now(),
            primary_metric=primary,
            tolerance={
                "max_regression": config.params.gate.max_regression,
                "mode": config.params.gate.regression_mode,
            },
            candidate=ModelSide(
                run_id=candidate_id,
                model_uri=candidate_uri,
                metrics=cand_metrics,
                lineage=_lineage(candidate_id),
            ),
            champion=champion_side,
            gates=results,
            comparison=comparison,
            signature_changes=changes,
            message=message,
        )

        started = time.perf_counter()
        if not dry_run and verdict != "unchanged":
            record = _apply(config, record, champion_info)
        elif verdict == "unchanged" and champion_info is not None:
            record.candidate.version = champion_info.version
        record.timings = {
            "rescoring_s": round(rescoring, 4),
            "registry_s": round(time.perf_counter() - started, 4),
        }
        # Written under the lock: the local record is always the latest decision.
        result = _write_record(config, record, "promotion")
    # A dry run changes no registry state, but its record still goes on the candidate's run.
    tracking.log_text_artifacts(
        candidate_id,
        {"json": result.json_path, "md": result.markdown_path},
        "promotion-dry-run" if dry_run else "promotion",
    )
    if not dry_run:
        tracking.set_run_tags(candidate_id, {"mlops.promotion.verdict": verdict})
    return result


def _version_tags(record: DecisionRecord) -> dict[str, str]:
    tags = {
        "mlops.run_id": record.candidate.run_id or "",
        "mlops.verdict": record.verdict,
        "mlops.decided_by": record.decided_by,
        "mlops.decided_at": record.decided_at,
        "mlops.reason": record.reason,
        "mlops.forced": str(record.forced).lower(),
        **record.candidate.lineage,
    }
    tags.update({f"mlops.metric.{k}": f"{v:.6g}" for k, v in record.candidate.metrics.items()})
    return tags


def _apply(
    config: Config, record: DecisionRecord, champion: registry.ModelVersionInfo | None
) -> DecisionRecord:
    """Register the candidate and move aliases; the champion moves last, after a re-read."""
    names = config.settings.registry
    run_id = record.candidate.run_id or ""
    existing = _find_version(config, run_id)
    if existing is None:
        version = registry.register(
            config, record.candidate.model_uri or "", run_id, _version_tags(record)
        )
    else:
        version = existing
        registry.set_version_tags(config, version.version, _version_tags(record))
    record.candidate.version = version.version
    faults.checkpoint("promote.after_register")
    if record.verdict == "rejected":
        registry.set_alias(config, names.challenger_alias, version.version)
        record.aliases = {names.challenger_alias: version.version}
        return record
    current = registry.get_alias(config, names.champion_alias)
    before = champion.version if champion else None
    if (current.version if current else None) != before:
        raise PromotionConflictError(
            f"champion of {names.model_name!r} changed during promotion "
            f"(v{before} -> v{current.version if current else None}); re-run `mlops promote`"
        )
    # Make sure the registered copy loads before the champion points at it.
    registry.load_model(config, version.uri)
    if champion is not None:
        registry.set_alias(config, names.previous_alias, champion.version)
        record.aliases[names.previous_alias] = champion.version
    faults.checkpoint("promote.before_champion_alias")
    registry.set_alias(config, names.champion_alias, version.version)
    record.aliases[names.champion_alias] = version.version
    challenger = registry.get_alias(config, names.challenger_alias)
    if challenger is not None and challenger.version == version.version:
        registry.delete_alias(config, names.challenger_alias)
    return record


def run_rollback(config: Config, to: str | None = None, *, reason: str = "") -> PromotionResult:
    """Move `champion` back to `previous` (or a given version) after checking that model loads."""
    names = config.settings.registry
    # Reach the store first: an unreachable one is a one-line error, not a lock-file traceback.
    tracking.connect(config.settings.tracking)
    with promotion_lock(config):
        started = time.perf_counter()
        current = registry.get_alias(config, names.champion_alias)
        if to is not None:
            target = registry.resolve(config, to)
        else:
            previous = registry.get_alias(config, names.previous_alias)
            if previous is None:
                raise RegistryError(
                    f"registry: {names.model_name!r} has no {names.previous_alias!r} alias; "
                    "use `mlops rollback --to VERSION`"
                )
            target = previous
        if current is not None and current.version == target.version:
            raise RegistryError(f"registry: v{target.version} is already the champion")
        try:
            registry.load_model(config, target.uri)
        except (ModelLoadError, RegistryError) as exc:
            raise ModelLoadError(f"refusing rollback to v{target.version}: {exc}") from exc
        aliases = {names.champion_alias: target.version}
        if current is not None:
            registry.set_alias(config, names.previous_alias, current.version)
            aliases[names.previous_alias] = current.version
        registry.set_alias(config, names.champion_alias, target.version)
        record = DecisionRecord(
            action="rollback",
            verdict="rolled_back",
            model_name=names.model_name,
            reason=reason,
            decided_by=decided_by(),
            decided_at=now(),
            candidate=ModelSide(
                run_id=target.run_id,
                model_uri=target.uri,
                version=target.version,
                lineage=_lineage(target.run_id),
            ),
            champion=None
            if current is None
            else ModelSide(
                run_id=current.run_id,
                model_uri=current.uri,
                version=current.version,
                lineage=_lineage(current.run_id),
            ),
            aliases=aliases,
            message=f"champion v{current.version if current else '-'} -> v{target.version}",
            timings={"registry_s": round(time.perf_counter() - started, 4)},
        )
    return _write_record(config, record, "rollback")
