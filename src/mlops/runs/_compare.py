"""`mlops runs compare`: runs side by side, each against the baseline (the LAST ref given).

Params that differ, every metric with its delta vs the baseline, the gate thresholds, dataset
digests, drift, artifacts; and the verdict: is the FIRST run worse than the baseline beyond the
project's `gate.max_regression`, on the primary metric or a guard metric? (`mlops promote`'s own
`comparison_checks` and choice of primary metric, metric direction included). With two refs,
`A B`, that is "A against B".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops.catalog import CLASSIFICATION_METRICS, LOWER_IS_BETTER, REGRESSION_METRICS
from mlops.config import GateParams
from mlops.gates import GateResult
from mlops.runs._common import (
    NONE,
    TEST_PREFIX,
    RunRefError,
    git_text,
    iso,
    number,
    signed,
    test_metrics,
    versions_text,
)
from mlops.tracking import Store, tags
from mlops.tracking.runs import RunRecord, artifact_files, get_runs


@dataclass
class Side:
    """One compared run: the ref as given, the run, its registered versions and artifacts."""

    ref: str
    record: RunRecord
    versions: list[Any] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)

    def drift(self) -> dict[str, Any] | None:
        """Drift recorded on the run (metrics or artifacts named drift), None without any."""
        metrics = {k: v for k, v in self.record.metrics.items() if "drift" in k.lower()}
        files = [a for a in self.artifacts if "drift" in a.lower()]
        if not metrics and not files:
            return None
        return {"metrics": metrics, "artifacts": files}

    def summary(self) -> dict[str, Any]:
        record = self.record
        return {
            "ref": self.ref,
            "run_id": record.run_id,
            "run_name": record.name,
            "status": record.status,
            "start_time": iso(record.start_ms),
            "git_commit": record.tags.get(tags.GIT_COMMIT),
            "dvc_experiment": record.tags.get(tags.DVC_EXPERIMENT),
            "versions": [{"version": v.version, "aliases": list(v.aliases)} for v in self.versions],
        }

    def label(self) -> str:
        record = self.record
        return (
            f"{self.ref} = run {record.run_id[:8]} {record.name} ({record.status.lower()}, "
            f"git {git_text(record)}, {versions_text(self.versions)})"
        )


@dataclass
class MetricRow:
    name: str
    values: list[float | None]
    #: Each run's value minus the baseline's (None where either is missing; the baseline's own).
    deltas: list[float | None]
    #: The catalog's direction for a model metric; None for others (fit seconds, drift).
    higher_is_better: bool | None


@dataclass
class Verdict:
    primary: str
    #: The promotion policy's check of the first run against the baseline on the primary metric.
    check: GateResult
    max_regression: float
    mode: str
    #: Its checks on the guard metrics (`gate.guard`, else every gated metric), as promote runs
    #: them: a run better on the primary metric but worse on a guard is still a regression.
    guards: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.check.passed) and all(g.passed for g in self.guards)

    def failed_guards(self) -> list[str]:
        return [g.name.removesuffix(" vs champion") for g in self.guards if not g.passed]


@dataclass
class Comparison:
    sides: list[Side]
    primary: str
    params: dict[str, list[str | None]]
    metrics: list[MetricRow]
    gate: dict[str, list[str | None]]
    verdict: Verdict

    @property
    def first(self) -> Side:
        return self.sides[0]

    @property
    def baseline(self) -> Side:
        return self.sides[-1]

    def verdict_text(self) -> str:
        """One line: is the first run worse than the baseline on the primary metric?"""
        first, base = self.first, self.baseline
        mine = test_metrics(first.record).get(self.primary)
        theirs = test_metrics(base.record).get(self.primary)
        metric = f"test {self.primary}"
        if mine is None or theirs is None or mine != mine or theirs != theirs:
            missing = first.ref if mine is None or mine != mine else base.ref
            return f"not comparable: {missing} has no {metric}"
        delta = mine - theirs
        values = f"{number(mine)} vs {number(theirs)} ({signed(delta)})"
        tolerance = f"gate.max_regression {self.verdict.max_regression:g} {self.verdict.mode}"
        higher = self.primary not in LOWER_IS_BETTER
        better = delta > 0 if higher else delta < 0
        if not self.verdict.check.passed:
            return f"{first.ref} is worse than {base.ref} on {metric} beyond {tolerance}: {values}"
        if delta == 0:
            text = f"{first.ref} equals {base.ref} on {metric}: {values}"
        elif better:
            text = f"{first.ref} is better than {base.ref} on {metric}: {values}"
        else:
            text = f"{first.ref} is worse than {base.ref} on {metric} within {tolerance}: {values}"
        guards = self.verdict.failed_guards()
        if guards:
            text += f"; but worse beyond it on guard metric(s) {', '.join(guards)}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.ref,
            "runs": [side.summary() for side in self.sides],
            "primary_metric": self.primary,
            "verdict": {
                "passed": self.verdict.passed,
                "text": self.verdict_text(),
                "check": self.verdict.check.name,
                "threshold": self.verdict.check.threshold,
                "max_regression": self.verdict.max_regression,
                "mode": self.verdict.mode,
                "guards": [
                    {
                        "check": g.name,
                        "value": g.value,
                        "threshold": g.threshold,
                        "passed": g.passed,
                    }
                    for g in self.verdict.guards
                ],
            },
            "metrics": [
                {
                    "name": row.name,
                    "values": row.values,
                    "deltas": row.deltas,
                    "higher_is_better": row.higher_is_better,
                }
                for row in self.metrics
            ],
            "params_differ": self.params,
            "gate": self.gate,
            "datasets": [side.record.datasets for side in self.sides],
            "drift": [side.drift() for side in self.sides],
            "artifacts": [side.artifacts for side in self.sides],
        }


def _metric_order(name: str) -> tuple[int, str]:
    return (0 if name.startswith(TEST_PREFIX) else 1 if name.startswith("cv_") else 2, name)


def _bare(name: str) -> str:
    for prefix in (TEST_PREFIX, "train_", "cv_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def compare_runs(
    store: Store, sides: list[tuple[str, str]], gate: GateParams, primary: str
) -> Comparison:
    """Compare runs given as (ref, run id) pairs; the last is the baseline. The verdict is
    `mlops promote`'s comparison of the first against the baseline (`comparison_checks`): the
    `primary` metric (`promote_primary`), then the guard metrics, with the project's `gate`
    tolerance, as promote judges a candidate against the champion."""
    from mlops.promote.policy import comparison_checks, effective_mode
    from mlops.registry.runs import versions_by_run

    ids = [run_id for _, run_id in sides]
    found = {r.run_id: r for r in get_runs(store, list(dict.fromkeys(ids)))}
    versions = versions_by_run(store, list(found))
    compared = []
    for ref, run_id in sides:
        record = found.get(run_id)
        if record is None:  # an alias's version whose run was deleted from the store
            raise RunRefError(f"{ref}: run {run_id} is not in the tracking store")
        compared.append(Side(ref, record, versions.get(run_id, []), artifact_files(store, record)))
    records = [side.record for side in compared]
    first, base = records[0], records[-1]

    params: dict[str, list[str | None]] = {}
    for key in sorted({k for r in records for k in r.params}):
        values = [r.params.get(key) for r in records]
        if len(set(values)) > 1 and not key.startswith("gate."):
            params[key] = values
    gates = {
        key: [r.params.get(key) for r in records]
        for key in sorted({k for r in records for k in r.params if k.startswith("gate.")})
    }
    metrics = []
    for name in sorted({k for r in records for k in r.metrics}, key=_metric_order):
        numbers = [r.metrics.get(name) for r in records]
        baseline = numbers[-1]
        deltas = [None if v is None or baseline is None else v - baseline for v in numbers]
        bare = _bare(name)
        known = bare in CLASSIFICATION_METRICS or bare in REGRESSION_METRICS
        metrics.append(
            MetricRow(name, numbers, deltas, bare not in LOWER_IS_BETTER if known else None)
        )
    check, *guards = comparison_checks(
        primary, test_metrics(first), test_metrics(base), gate, LOWER_IS_BETTER
    )
    verdict = Verdict(primary, check, gate.max_regression, effective_mode(primary, gate), guards)
    return Comparison(compared, primary, params, metrics, gates, verdict)


def dataset_rows(comparison: Comparison) -> list[tuple[str, list[str]]]:
    """(dataset name/context, each run's digest) for every dataset input of any run."""
    keys: list[str] = []
    digests: list[dict[str, str]] = []
    for side in comparison.sides:
        mine = {}
        for item in side.record.datasets:
            key = f"{item['name']} ({item['context']})" if item["context"] else item["name"]
            mine[key] = item["digest"]
            if key not in keys:
                keys.append(key)
        digests.append(mine)
    return [(key, [d.get(key, NONE) for d in digests]) for key in keys]
