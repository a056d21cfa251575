"""Global options shared by every command, and the output helpers commands use."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from mlops.project import Project
    from mlops.tracking import Store


@dataclass
class GlobalOptions:
    """The root options; the project and its store are opened once per command, on demand."""

    project_dir: Path | None = None
    params: Path | None = None
    config: Path | None = None
    overrides: list[str] = field(default_factory=list)
    verbose: int = 0
    quiet: bool = False
    allow_unsafe_model: bool = False
    _project: Project | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    def project(self, *, check_schema: bool = True) -> Project:
        """The project found from the working directory (or --project), config validated
        (`check_schema=False`: not against the current schema contract, which ingest replaces)."""
        if self._project is None:
            from mlops.project import open_project

            self._project = open_project(
                self.project_dir,
                params_path=self.params,
                config_path=self.config,
                overrides=tuple(self.overrides),
                allow_unsafe_model=self.allow_unsafe_model,
                check_schema=check_schema,
            )
        return self._project

    def store(self) -> Store:
        """The project's tracking store: one per command (it connects on first use)."""
        if self._store is None:
            from mlops.tracking import Store

            self._store = Store.for_project(self.project())
        return self._store


def options(ctx: typer.Context) -> GlobalOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def setup_logging(
    verbose: int, quiet: bool, log_format: str = "text", command: str | None = None
) -> None:
    """Log to stderr: INFO (-v: DEBUG, -q: ERROR), as text lines or JSON lines (`mlops.logs`);
    progress bars for long steps when a person reads stderr (`mlops.cli.bars`)."""
    from mlops import logs
    from mlops.cli import bars

    level = logging.ERROR if quiet else logging.INFO if verbose == 0 else logging.DEBUG
    logs.configure(level, log_format, command=command, quiet_noisy=verbose < 2)
    bars.setup(quiet=quiet, log_format=log_format)


class _Redacting:
    """A text stream that hides credentials and secret values in whatever passes through."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from mlops.errors import redact_secrets

        written = self._stream.write(redact_secrets(text))
        # a stream some library swapped in (dvc's, for one) may answer None
        return len(text) if written is None else int(written)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(self._stream.isatty())

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:
        return str(getattr(self._stream, "encoding", "utf-8"))


def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, file=_Redacting(sys.stdout))  # type: ignore[arg-type]


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(payload: Any) -> None:
    """A payload as JSON (a string as it is) on stdout, credentials and secret values redacted."""
    from mlops.artifacts import to_json

    print_text(to_json(payload) if not isinstance(payload, str) else payload)


def print_text(text: str) -> None:
    """Text on stdout as it is (no markup, no wrapping), credentials and secret values redacted."""
    _Redacting(sys.stdout).write(text)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value is None:
        return "-"
    return str(value)


def dumps(payload: Any) -> str:
    return json.dumps(payload, default=str)
