"""`mlops promote`: gate the candidate, re-score the champion, decide, move aliases, record."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from mlops import card, faults, progress, registry, threads
from mlops.config import Task
from mlops.data import load_schema, load_split
from mlops.errors import (
    ConfigError,
    ModelLoadError,
    PromotionConflictError,
    StageOrderError,
)
from mlops.evaluate import LOWER_IS_BETTER, Scores, assess_model, metric_names
from mlops.gates import GateResult, evaluate_gates, model_checks
from mlops.project import Project
from mlops.promote._common import (
    PromotionResult,
    candidate_run_id,
    decided_by,
    now,
    record_paths,
    write_champion,
    write_record,
)
from mlops.promote.lock import promotion_lock
from mlops.promote.policy import (
    compare_metrics,
    comparison_checks,
    primary_metric,
    signature_changes,
    tolerances,
    unknown_guards,
)
from mlops.promote.record import DecisionRecord, ModelSide, to_markdown
from mlops.tracking import Store, first_line, tags


def _test_data(project: Project) -> tuple[Any, Any, Task]:
    schema = load_schema(project.settings.paths.schema_file)
    test = load_split(project, "test")
    if schema.target not in test.columns:
        raise StageOrderError(f"{project.settings.paths.test}: target {schema.target!r} missing")
    return test.drop(columns=[schema.target]), test[schema.target], schema.task


def _write_card(
    project: Project,
    store: Store,
    record: DecisionRecord,
    candidate: registry.LoadedModel,
    analysis: card.CardAnalysis,
) -> None:
    """The registered version's card: run artifacts, and after the decision record in the
    version's description (MLflow's UI shows it)."""
    version = record.candidate.version
    subject = card.CardSubject(
        candidate.model,
        f"{registry.MODEL_URI_PREFIX}{record.model_name}/{version}",
        record.candidate.run_id,
        record.model_name,
        version,
    )
    written = card.build_card(
        project,
        store,
        subject,
        analysis=analysis,
        record=record.to_json(),
        record_markdown=to_markdown(record),
    )
    card.attach_card(store, record.candidate.run_id or "", written)
    if version:
        registry.set_description(store, version, written.extra["description"])


def _score(model: Any, features: Any, target: Any, task: Any, uri: str) -> Scores:
    try:
        return assess_model(model, features, target, task)
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{uri}: cannot score the test split ({first_line(exc)})") from exc


def _find_version(store: Store, run_id: str) -> registry.ModelVersionInfo | None:
    for info in registry.list_versions(store):
        if info.run_id == run_id:
            return info
    return None


def _already_champion(project: Project, store: Store, candidate_id: str) -> PromotionResult | None:
    """The no-op of a re-run: the candidate already is the champion, so nothing is decided,
    re-scored or rewritten (read through the MLflow-free lookup where the store allows)."""
    names = store.names
    champion = registry.find_alias(store, names.model_name, names.champion_alias)
    if champion is None or champion.run_id != candidate_id:
        return None
    record = DecisionRecord(
        action="promote",
        verdict="unchanged",
        model_name=names.model_name,
        decided_by=decided_by(),
        decided_at=now(),
        candidate=ModelSide(run_id=candidate_id, model_uri=champion.uri, version=champion.version),
        message=f"run {candidate_id} already is the champion (v{champion.version}); nothing to do",
    )
    json_path, md_path = record_paths(project, "promotion")
    return PromotionResult(record, json_path, md_path, written=False)


def _rollback_check(version: registry.ModelVersionInfo | None) -> GateResult | None:
    """A version the champion was rolled back from is not promoted again unless forced."""
    note = version.tags.get(tags.ROLLED_BACK, "") if version is not None else ""
    if not note or version is None:
        return None
    return GateResult(
        name=f"v{version.version} was not rolled back from",
        value=None,
        threshold=f"{note}; promote it again only with --force --reason",
        passed=False,
    )


def run_promotion(
    project: Project,
    store: Store,
    run_id: str | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    reason: str = "",
) -> PromotionResult:
    """Gate the candidate, re-score the champion on the same split, decide, and record it all."""
    names = store.names
    candidate_id = candidate_run_id(project, run_id)
    unchanged = _already_champion(project, store, candidate_id)
    if unchanged is not None:
        return unchanged
    candidate_uri = store.logged_model_uri(candidate_id)
    features, target, task = _test_data(project)
    gate = project.params.gate
    primary = primary_metric(gate, project.params.data.task, target)

    with (
        promotion_lock(store),
        threads.limited(project.params.train.n_jobs),
        contextlib.ExitStack() as stack,
    ):
        # Again under the lock: a concurrent promotion of the same run may have just won.
        unchanged = _already_champion(project, store, candidate_id)
        if unchanged is not None:
            return unchanged
        started = time.perf_counter()
        rescore = progress.task("promote", total=3, unit="steps", note="scoring the candidate")
        step = stack.enter_context(rescore)
        candidate = registry.load_model(store, candidate_uri)
        scored = _score(candidate.model, features, target, task, candidate_uri)
        cand_metrics = scored.metrics
        known = {*metric_names(task), *cand_metrics}
        unknown = unknown_guards(gate, known)
        if unknown:
            raise ConfigError(
                f"gate.guard: unknown metric {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        checks, notes = model_checks(scored.predicted)
        gates = evaluate_gates(cand_metrics, gate.metrics, checks=checks, notes=notes)
        results: list[GateResult] = list(gates.results)
        step.update(completed=1, note="model card slices")
        carding = time.perf_counter()
        analysis = card.analyse(
            project.params, load_schema(project.settings.paths.schema_file),
            candidate.model, features, target,
        )  # fmt: skip
        results += card.slice_gates(project.params, analysis)
        carding = time.perf_counter() - carding
        existing = _find_version(store, candidate_id)
        rolled_back = _rollback_check(existing)
        if rolled_back is not None:
            results.append(rolled_back)
        champion_info = registry.get_alias(store, names.champion_alias)
        champion_side: ModelSide | None = None
        comparison = []
        changes: list[str] = []
        if champion_info is not None:
            step.update(completed=2, note=f"re-scoring the champion (v{champion_info.version})")
            champion = registry.load_model(store, champion_info.uri)
            champ_metrics = _score(
                champion.model, features, target, task, champion_info.uri
            ).metrics
            comparison = compare_metrics(cand_metrics, champ_metrics, LOWER_IS_BETTER)
            # The primary metric, then every guard: better on one, worse on another is no gain.
            results += comparison_checks(
                primary, cand_metrics, champ_metrics, gate, LOWER_IS_BETTER
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
                lineage=store.lineage(champion_info.run_id),
            )
        rescoring = time.perf_counter() - started
        stack.close()  # the re-scoring's progress ends here

        passed = all(r.passed for r in results)
        if passed or force:
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
            tolerance=tolerances(primary, gate),
            candidate=ModelSide(
                run_id=candidate_id,
                model_uri=candidate_uri,
                metrics=cand_metrics,
                lineage=store.lineage(candidate_id),
            ),
            champion=champion_side,
            gates=results,
            comparison=comparison,
            signature_changes=changes,
            notes=gates.notes,
            message=message,
        )

        started = time.perf_counter()
        if not dry_run:
            record = _apply(store, record, champion_info, existing)
        record.timings = {
            "rescoring_s": round(rescoring, 4),
            "card_analysis_s": round(carding, 4),
            "registry_s": round(time.perf_counter() - started, 4),
        }
        # Written under the lock: the local record is always the latest decision.
        result = write_record(project, record, "promotion")
        if not dry_run and record.candidate.version:
            # The decision record, then the model card: the version's description.
            _write_card(project, store, record, candidate, analysis)
        if not dry_run:
            write_champion(project, store)
    # A dry run changes no registry state, but its record still goes on the candidate's run.
    store.attach_files(
        candidate_id,
        {"json": result.json_path, "md": result.markdown_path},
        "promotion-dry-run" if dry_run else "promotion",
    )
    if not dry_run:
        store.set_run_tags(candidate_id, {tags.PROMOTION_VERDICT: verdict})
    return result


def _version_tags(record: DecisionRecord) -> dict[str, str]:
    values = {
        tags.RUN_ID: record.candidate.run_id or "",
        tags.VERDICT: record.verdict,
        tags.DECIDED_BY: record.decided_by,
        tags.DECIDED_AT: record.decided_at,
        tags.REASON: record.reason,
        tags.FORCED: str(record.forced).lower(),
        **record.candidate.lineage,
    }
    values.update({tags.metric(k): f"{v:.6g}" for k, v in record.candidate.metrics.items()})
    if record.verdict == "promoted" and record.forced:
        values[tags.ROLLED_BACK] = ""  # forced back in: the rollback no longer holds it out
    return values


def _apply(
    store: Store,
    record: DecisionRecord,
    champion: registry.ModelVersionInfo | None,
    existing: registry.ModelVersionInfo | None,
) -> DecisionRecord:
    """Register the candidate and move aliases; the champion moves last, after a re-read."""
    names = store.names
    if existing is None:
        version = registry.register(store, record.candidate.model_uri or "", _version_tags(record))
    else:
        version = existing
        registry.set_version_tags(store, version.version, _version_tags(record))
    record.candidate.version = version.version
    faults.checkpoint("promote.after_register")
    if record.verdict == "rejected":
        registry.set_alias(store, names.challenger_alias, version.version)
        record.aliases = {names.challenger_alias: version.version}
        return record
    current = registry.get_alias(store, names.champion_alias)
    before = champion.version if champion else None
    if (current.version if current else None) != before:
        raise PromotionConflictError(
            f"champion of {names.model_name!r} changed during promotion "
            f"(v{before} -> v{current.version if current else None}); re-run `mlops promote`"
        )
    # Make sure the registered copy loads before the champion points at it.
    registry.load_model(store, version.uri)
    if champion is not None:
        registry.set_alias(store, names.previous_alias, champion.version)
        record.aliases[names.previous_alias] = champion.version
    faults.checkpoint("promote.before_champion_alias")
    registry.set_alias(store, names.champion_alias, version.version)
    record.aliases[names.champion_alias] = version.version
    challenger = registry.get_alias(store, names.challenger_alias)
    if challenger is not None and challenger.version == version.version:
        registry.delete_alias(store, names.challenger_alias)
    return record
