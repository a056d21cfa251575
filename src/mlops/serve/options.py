"""The options a server process runs with (JSON-serialisable: workers get them from the parent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlops.config import RegistrySettings, TrackingSettings
from mlops.project import Project
from mlops.serve.capture import CaptureOptions
from mlops.tracking import Store

#: Environment variable carrying the options to worker processes (`--workers N`).
OPTIONS_ENV = "MLOPS_SERVE_OPTIONS"
#: `serve:` settings copied as they are (see `ServeSettings` for each).
LIMITS = (
    "threads",
    "max_rows",
    "max_columns",
    "request_timeout",
    "body_timeout",
    "header_timeout",
    "keep_alive_timeout",
    "max_connections",
)


class ServeOptions(BaseModel):
    """Everything a server process needs (JSON-serialisable for worker processes)."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    #: The project root and its resolved store settings (absolute paths).
    root: Path
    tracking: TrackingSettings
    registry: RegistrySettings
    model_cache: Path
    model_uri: str
    max_body_bytes: int
    reload_interval: float
    allow_unsafe: bool = False
    silence_warnings: bool = True
    log_level: str = "INFO"
    #: See `ServeSettings` for each limit (None: no limit).
    threads: int | None = 1
    max_rows: int | None = None
    max_columns: int | None = None
    request_timeout: float | None = None
    body_timeout: float | None = None
    header_timeout: float | None = None
    keep_alive_timeout: int = 5
    max_connections: int | None = None
    #: `serve.capture`, resolved (disabled unless configured).
    capture: CaptureOptions = CaptureOptions()
    #: `mlops monitor`'s textfile, appended to `/metrics` when present.
    monitor_textfile: Path | None = None

    @classmethod
    def from_project(
        cls, project: Project, model_uri: str | None = None, **overrides: Any
    ) -> ServeOptions:
        settings = project.settings
        names = settings.registry
        limits = {name: getattr(settings.serve, name) for name in LIMITS}
        return cls(
            root=project.root,
            tracking=settings.tracking,
            registry=names,
            model_cache=settings.paths.model_cache,
            model_uri=model_uri or f"models:/{names.model_name}@{names.champion_alias}",
            max_body_bytes=settings.serve.max_body_bytes,
            reload_interval=settings.serve.reload_interval,
            allow_unsafe=project.allow_unsafe_model,
            **{
                **limits,
                "capture": CaptureOptions.from_project(project),
                "monitor_textfile": project.resolve(settings.serve.monitor_textfile),
                **overrides,
            },
        )

    def store(self) -> Store:
        return Store(
            self.tracking, root=self.root, registry=self.registry, model_cache=self.model_cache
        )
