"""`mlops init`: write the rendered project, then git and DVC."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.config import Task
from mlops.errors import ConfigError, DataError, MlopsError

if TYPE_CHECKING:
    pass

from mlops.scaffold._render import ProjectSpec, default_gates, infer_task, render


@dataclass(frozen=True)
class InitResult:
    root: Path
    spec: ProjectSpec
    written: list[str]
    unchanged: list[str]
    notes: list[str]

    @property
    def next_commands(self) -> list[str]:
        return [
            f"cd {self.root}",
            "make run            # set up .venv, dvc repro, promote, drift",
            'git add -A && git commit -m "mlops init"',
            "mlflow ui --backend-store-uri sqlite:///mlflow.db   # runs, datasets, registry",
        ]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)


def _dvc(root: Path, *args: str) -> None:
    import sys

    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    done = subprocess.run([dvc, *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise MlopsError(f"dvc {' '.join(args)}: {' '.join(lines[-3:]) or 'failed'}")


def _source_in_project(root: Path, source: str) -> tuple[str, Path | None]:
    """`data.source` as params.yaml will say it; a file outside the project is copied into
    `data/source/` (and versioned with DVC by the caller)."""
    if source.startswith("builtin:"):
        return source, None
    given = Path(source).expanduser().absolute()
    if not given.is_file():
        raise DataError(f"{source}: file not found")
    if given.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{source}: expected a .csv or .parquet file")
    try:
        return str(given.relative_to(root)), None
    except ValueError:
        copy = root / "data" / "source" / given.name
        return str(copy.relative_to(root)), given


def plan(
    root: Path, *, source: str, target: str, task: Task | None = None, name: str | None = None
) -> tuple[ProjectSpec, list[str]]:
    """Read the data and decide the task, the gates and the names."""
    from mlops.data.ingest import read_source

    relative, outside = _source_in_project(root, source)
    frame = read_source(
        source if source.startswith("builtin:") else str(outside or root / relative)
    )
    frame.columns = [str(c) for c in frame.columns]
    if target not in frame.columns:
        raise DataError(
            f"{source}: target column {target!r} not found (columns: {', '.join(frame.columns)})"
        )
    notes: list[str] = []
    if task is None:
        task, reason = infer_task(frame[target])
        notes.append(f"task: {task}, because {reason} (pass --task to choose)")
    else:
        reason = "chosen with --task"
    gates, primary, gate_notes = default_gates(task, frame[target])
    notes.extend(gate_notes)
    model_name = name or root.name
    rare = task == "classification" and primary == "average_precision"
    spec = ProjectSpec(
        class_weight="balanced" if rare else None,
        source=relative,
        target=target,
        task=task,
        task_reason=reason,
        model_name=model_name,
        gates=gates,
        primary=primary,
    )
    return spec, notes


def init_project(
    directory: Path,
    *,
    source: str,
    target: str,
    task: Task | None = None,
    name: str | None = None,
    force: bool = False,
) -> InitResult:
    """Write a complete project into `directory`; refuse to overwrite different files unless
    `force`. Running it again with the same answers changes nothing."""
    root = directory.expanduser().absolute()
    if root.exists() and not root.is_dir():  # `mlops init data.csv`: the file is the source
        raise ConfigError(
            f"{directory}: is a file, not a folder; DIRECTORY is the project folder (default: "
            f"here), the data goes in --source (mlops init --source {directory} --target COLUMN)"
        )
    root.mkdir(parents=True, exist_ok=True)
    spec, notes = plan(root, source=source, target=target, task=task, name=name)
    files = render(spec)
    clashes = [
        path
        for path, text in files.items()
        if (root / path).exists() and (root / path).read_text(encoding="utf-8") != text
    ]
    if clashes and not force:
        raise ConfigError(
            f"{root}: would overwrite {', '.join(sorted(clashes))}; pass --force to replace them"
        )
    written, unchanged = [], []
    from mlops import artifacts

    for path, text in files.items():
        target_file = root / path
        if target_file.exists() and target_file.read_text(encoding="utf-8") == text:
            unchanged.append(path)
            continue
        artifacts.write_text(target_file, text)
        written.append(path)
    _, outside = _source_in_project(root, source)
    _setup_vcs(root, spec, outside)
    from mlops import pipeline
    from mlops.project import open_project

    project = open_project(root)  # the config is checked whole before anything runs
    from mlops.train import require_valid_model

    require_valid_model(project)
    written.extend(project.relative(p) for p in pipeline.write(project))
    return InitResult(root, spec, written, unchanged, notes)


def _setup_vcs(root: Path, spec: ProjectSpec, outside: Path | None) -> None:
    """git and DVC where absent, a local DVC remote, and the source file versioned by DVC."""
    if not (root / ".git").exists():
        _git(root, "init", "-q")
    if not (root / ".dvc").exists():
        _dvc(root, "init", "-q")
        _dvc(root, "config", "core.analytics", "false")
        _dvc(root, "remote", "add", "-d", "local", ".dvc-storage")
    if outside is not None:
        copy = root / spec.source
        if not copy.is_file() or copy.read_bytes() != outside.read_bytes():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(outside, copy)
            _dvc(root, "add", "-q", spec.source)
