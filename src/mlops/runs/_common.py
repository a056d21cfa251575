"""What `list` and `compare` share: a run's primary metric, versions, times, and text tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError, StageOrderError
from mlops.tracking import tags
from mlops.tracking.runs import RunRecord

if TYPE_CHECKING:
    import pandas as pd

    from mlops.project import Project

#: The test-split metrics `mlops eval` logs are named `test_<metric>`.
TEST_PREFIX = "test_"
#: Params read for a listing (the rest stays in the store).
LIST_PARAMS = ("model.estimator",)
NONE = "—"


class RunRefError(MlopsError):
    """A run reference (id, alias, DVC experiment, git revision) names no run."""


def promote_primary(project: Project) -> str:
    """The metric `mlops promote` compares, chosen as it chooses it (`promote.policy.
    primary_metric`): `gate.primary`, else the task's default for the test split's target (average
    precision for a rare positive class). Only the target column of the test split is read, and
    only when the default needs it."""
    from mlops.promote.policy import primary_metric

    return primary_metric(
        project.params.gate, project.params.data.task, lambda: test_target(project)
    )


def test_target(project: Project) -> pd.Series:
    """The test split's target column, the one `mlops promote` scores on (read alone from a
    Parquet split)."""
    from mlops.data import load_schema, load_split

    paths = project.settings.paths
    target = load_schema(paths.schema_file).target
    if paths.test.suffix.lower() == ".parquet" and paths.test.is_file():
        import pyarrow.parquet as pq

        try:
            series: pd.Series = pq.read_table(paths.test, columns=[target]).column(0).to_pandas()
            return series
        except Exception:  # pyarrow raises many types: the full reader below says what is wrong
            pass
    test = load_split(project, "test")
    if target not in test.columns:
        raise StageOrderError(
            f"{paths.test}: no column {target!r} (the schema's target, which picks the primary "
            "metric promote compares); run `mlops data split` again or set gate.primary"
        )
    return test[target]


def test_metrics(record: RunRecord) -> dict[str, float]:
    """The run's test-split metrics by bare name (`test_roc_auc` -> `roc_auc`)."""
    return {
        key[len(TEST_PREFIX) :]: value
        for key, value in record.metrics.items()
        if key.startswith(TEST_PREFIX)
    }


def estimator(record: RunRecord) -> str | None:
    return record.tags.get(tags.ESTIMATOR) or record.params.get("model.estimator") or None


def gate_verdict(record: RunRecord) -> tuple[bool | None, str | None]:
    """(`mlops eval`'s gate passed?, `mlops promote`'s verdict) as recorded on the run."""
    passed = record.tags.get(tags.GATE_PASSED)
    return (None if passed is None else passed == "true"), record.tags.get(tags.PROMOTION_VERDICT)


#: `mlops promote`'s verdicts, short (a table column).
_VERDICTS = {"promoted": "prom", "rejected": "rej"}


def gate_text(record: RunRecord) -> str:
    """`pass`/`FAIL` (eval's gate), then `,prom`/`,rej` when `mlops promote` decided on it."""
    passed, verdict = gate_verdict(record)
    text = NONE if passed is None else "pass" if passed else "FAIL"
    return f"{text},{_VERDICTS.get(verdict, verdict)}" if verdict else text


def git_text(record: RunRecord) -> str:
    commit = record.tags.get(tags.GIT_COMMIT)
    if not commit or commit == "unknown":
        return NONE
    return commit[:7] + ("+" if record.tags.get(tags.GIT_DIRTY) == "true" else "")


def iso(ms: int | None) -> str | None:
    """A time in UTC, ISO 8601 (as `mlops models list` prints a version's creation time)."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def started(ms: int | None) -> str:
    """A table's short start time, in UTC (the column says so)."""
    if not ms:
        return NONE
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d %H:%M")


def duration(record: RunRecord) -> float | None:
    if not record.start_ms or not record.end_ms:
        return None
    return max(0.0, (record.end_ms - record.start_ms) / 1000)


def took(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return NONE
    if value != value:  # NaN
        return "nan"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 10 ** (-digits)):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return NONE
    text = number(value, digits)
    return text if text.startswith("-") or text == "nan" else f"+{text}"


def versions_text(versions: Sequence[Any]) -> str:
    """`v3 champion` (`v3 champion, v1`): registered versions and their aliases."""
    parts = []
    for info in versions:
        aliases = ",".join(info.aliases)
        parts.append(f"v{info.version} {aliases}" if aliases else f"v{info.version}")
    return "; ".join(parts) if parts else NONE


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, gap: int = 2) -> str:
    """An aligned plain-text table (left-aligned; numbers are pre-formatted text)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    space = " " * gap
    lines = [space.join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append(space.join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
