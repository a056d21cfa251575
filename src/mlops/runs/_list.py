"""`mlops runs list`: the experiment's recent runs, one row each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops.runs._common import (
    LIST_PARAMS,
    NONE,
    clip,
    duration,
    estimator,
    gate_text,
    gate_verdict,
    git_text,
    iso,
    number,
    started,
    table,
    test_metrics,
    took,
    versions_text,
)
from mlops.tracking import Store, tags
from mlops.tracking.lineage import SHORT_NAMES
from mlops.tracking.runs import RunRecord, recent_runs

#: Text tables fit this many columns (the run name and DVC experiment are shortened to fit).
WIDTH = 120
_STATUS = {"FINISHED": "done", "FAILED": "failed", "RUNNING": "running", "KILLED": "killed"}


@dataclass
class RunRow:
    """One run of a listing."""

    record: RunRecord
    primary: str
    versions: list[Any] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        return test_metrics(self.record).get(self.primary)

    def to_json(self) -> dict[str, Any]:
        record = self.record
        passed, verdict = gate_verdict(record)
        return {
            "run_id": record.run_id,
            "run_name": record.name,
            "status": record.status,
            "start_time": iso(record.start_ms),
            "duration_s": duration(record),
            "estimator": estimator(record),
            "primary_metric": {"name": self.primary, "value": self.value},
            "gate_passed": passed,
            "promotion_verdict": verdict,
            "git_commit": record.tags.get(tags.GIT_COMMIT),
            "git_dirty": (
                None if tags.GIT_DIRTY not in record.tags else record.tags[tags.GIT_DIRTY] == "true"
            ),
            "dvc_experiment": record.tags.get(tags.DVC_EXPERIMENT),
            "versions": [{"version": v.version, "aliases": list(v.aliases)} for v in self.versions],
        }

    def cells(self) -> list[str]:
        record = self.record
        name = estimator(record)
        value = self.value
        return [
            record.run_id[:8],
            record.name or NONE,
            _STATUS.get(record.status, record.status.lower() or NONE),
            started(record.start_ms),
            took(duration(record)),
            SHORT_NAMES.get(name, name) if name else NONE,
            f"{self.primary} {number(value)}" if value is not None else f"{self.primary} {NONE}",
            gate_text(record),
            git_text(record),
            record.tags.get(tags.DVC_EXPERIMENT) or NONE,
            versions_text(self.versions),
        ]


HEADERS = (
    "RUN", "NAME", "STATUS", "STARTED UTC", "TOOK", "MODEL", "PRIMARY", "GATE", "GIT", "DVC EXP",
    "VERSION",
)  # fmt: skip


def list_runs(
    store: Store, primary: str, *, limit: int = 20, filter_string: str | None = None
) -> list[RunRow]:
    """The experiment's newest runs first, with their `primary` metric (the one `mlops promote`
    compares: `promote_primary`) and registered versions."""
    from mlops.registry.runs import versions_by_run

    records = recent_runs(
        store, limit=limit, filter_string=filter_string, param_keys=list(LIST_PARAMS)
    )
    versions = versions_by_run(store, [r.run_id for r in records])
    return [RunRow(r, primary, versions.get(r.run_id, [])) for r in records]


def runs_table(rows: list[RunRow], width: int = WIDTH) -> str:
    """The listing as an aligned text table no wider than `width` (names shortened to fit)."""
    from mlops.errors import redact_secrets

    # Redacted before shortening: a clipped `user:password@host` URI no longer reads as one.
    cells = [[redact_secrets(cell) for cell in row.cells()] for row in rows]
    # Shorten the free-text columns (name, DVC experiment, versions) until the table fits.
    for column, floor in ((1, 16), (9, 8), (1, 12), (10, 12), (1, 10), (10, 8), (6, 14)):
        total = _width(cells)
        if total <= width:
            break
        longest = max(len(c[column]) for c in cells)
        keep = max(floor, longest - (total - width))
        for c in cells:
            c[column] = clip(c[column], keep)
    return table(HEADERS, cells)


def _width(cells: list[list[str]]) -> int:
    widths = [len(h) for h in HEADERS]
    for row in cells:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    return sum(widths) + 2 * (len(widths) - 1)
