"""What promote and rollback share: the champion file, the candidate's run, the decision
record's files and who decided when."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops import artifacts, registry
from mlops.errors import MlopsError, StageOrderError
from mlops.project import Project
from mlops.promote.record import DecisionRecord, to_markdown
from mlops.tracking import Store

#: Which version is champion, rewritten only when that changes: the drift stage depends on it.
CHAMPION_FILE = "champion.json"


@dataclass(frozen=True)
class PromotionResult:
    record: DecisionRecord
    json_path: Path
    markdown_path: Path
    #: False when nothing was decided (the candidate already is the champion): no file written.
    written: bool = True


def decided_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def candidate_run_id(project: Project, run_id: str | None) -> str:
    """The given run, or the one recorded by the last `mlops train`."""
    if run_id:
        return run_id
    path = project.settings.paths.run_file
    if not path.exists():
        raise StageOrderError(f"{path}: no trained candidate found; run `mlops train` first")
    record = artifacts.read_json(path)
    if not isinstance(record, dict) or not record.get("run_id"):
        raise StageOrderError(f"{path}: no run_id recorded; run `mlops train` again")
    return str(record["run_id"])


def write_champion(project: Project, store: Store) -> Path:
    """`reports/champion.json`: the champion's version and run (null without one); written only
    when it changes, so DVC reruns the drift stage exactly when the champion moves."""
    names = store.names
    info = (
        registry.find_alias(store, names.model_name, names.champion_alias)
        if store.exists()
        else None
    )
    payload = {
        "model": names.model_name,
        "alias": names.champion_alias,
        "version": info.version if info else None,
        "run_id": info.run_id if info else None,
    }
    path = project.paths.reports / CHAMPION_FILE
    if path.is_file():
        try:
            if artifacts.read_json(path) == payload:
                return path
        except MlopsError:  # unreadable: rewrite it
            pass
    return artifacts.write_json(path, payload)


def record_paths(project: Project, stem: str) -> tuple[Path, Path]:
    reports = project.settings.paths.reports
    return reports / f"{stem}.json", reports / f"{stem}.md"


def write_record(project: Project, record: DecisionRecord, stem: str) -> PromotionResult:
    reports = project.settings.paths.reports
    json_path = artifacts.write_json(reports / f"{stem}.json", record.to_json())
    md_path = artifacts.write_report(reports / f"{stem}.md", to_markdown(record))
    return PromotionResult(record, json_path, md_path)
