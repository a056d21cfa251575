"""What every layer may import at no cost: the config's store defaults and the one parser of
tracking URIs (sqlite, file stores, http(s) servers, SQL databases).

Standard library and `mlops.errors` only: `mlops.config` takes its defaults from here,
`mlops.tracking.uri` re-exports the parser, and shell completion uses both on every Tab press
without loading pydantic or MLflow (importing `mlops.tracking` or `mlops.config` would).

A relative SQLite or file-store path is resolved against the project root, never the working
directory, so a command run from a subfolder opens the project's store instead of creating a
new one beside it.
"""

from __future__ import annotations

import importlib.util
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from mlops.errors import ConfigError, redact_secrets

#: `configs/<env>.yaml` defaults (`tracking.uri`, `tracking.experiment`, `registry.model_name`).
TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT = "mlops"
MODEL_NAME = "mlops-model"

#: Seconds a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT = 60

_SERVER_SCHEMES = ("http", "https", "databricks", "databricks-uc")
#: PostgreSQL drivers SQLAlchemy can use, in the order a bare `postgresql://` prefers them
#: (SQLAlchemy 2.1 maps it to psycopg 3; the `mlops[postgres]` extra installs psycopg2).
POSTGRES_DRIVERS = {"psycopg": "psycopg", "psycopg2": "psycopg2"}
POSTGRES_EXTRA = "pip install 'mlops[postgres]'"


def postgres_driver() -> str | None:
    """The first installed PostgreSQL driver (`psycopg` or `psycopg2`), or None."""
    for driver, module in POSTGRES_DRIVERS.items():
        if importlib.util.find_spec(module) is not None:
            return driver
    return None


@dataclass(frozen=True)
class TrackingUri:
    """A parsed tracking URI; `uri` is what MLflow is given, `shown` what a user may see."""

    #: The URI as configured.
    raw: str
    #: `sqlite`, `file`, `http`, `https`, `postgresql`, `mysql`, ... (a driver suffix dropped).
    scheme: str
    #: The SQLite database file or the file store's directory, absolute; None otherwise.
    path: Path | None = None
    #: The SQLite URI's query string, without `?` (e.g. `timeout=30`).
    query: str = ""
    #: Host and port of a server or database (None for local stores).
    host: str | None = None
    port: int | None = None
    #: The SQLAlchemy driver named in the URI (`postgresql+psycopg2://` -> `psycopg2`), or "".
    driver: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.scheme in ("postgresql", "postgres")

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"

    @property
    def is_server(self) -> bool:
        """A tracking server reached over HTTP (it decides where artifacts live)."""
        return self.scheme in _SERVER_SCHEMES

    @property
    def is_local(self) -> bool:
        """A store on this machine's disk (SQLite file or file store)."""
        return self.path is not None

    @property
    def in_memory(self) -> bool:
        return self.is_sqlite and self.path is None

    @property
    def uri(self) -> str:
        """The resolved URI: absolute SQLite path with a busy timeout, absolute file store."""
        if self.is_sqlite:
            if self.path is None:
                return self.raw
            query = self.query
            if "timeout=" not in query:
                timeout = f"timeout={SQLITE_BUSY_TIMEOUT}"
                query = f"{query}&{timeout}" if query else timeout
            return f"sqlite:///{self.path}?{query}"
        if self.scheme == "file" and self.path is not None:
            return self.path.as_uri()
        if self.is_postgres and not self.driver:
            # A bare URI works with whichever driver is installed, as it did before SQLAlchemy
            # 2.1 changed its default: `postgresql://` -> `postgresql+psycopg2://`.
            driver = postgres_driver()
            if driver is not None:
                return "postgresql+" + driver + self.raw[self.raw.index(":") :]
        return self.raw

    @property
    def shown(self) -> str:
        """The configured URI with credentials hidden."""
        return redact_secrets(self.raw)

    @property
    def identity(self) -> str:
        """Names the store without secrets or options (cache keys, lock names)."""
        if self.path is not None:
            return str(self.path)
        if self.host is not None:
            netloc = self.host if self.port is None else f"{self.host}:{self.port}"
            parts = urllib.parse.urlsplit(self.raw)
            scheme = self.scheme  # without a driver: the same database whichever one is used
            return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
        return self.shown

    def lock_path(self, name: str, fallback_dir: Path) -> Path:
        """A lock file beside a local store, else in `fallback_dir`; options never change it."""
        if self.path is not None:
            folder = self.path.parent if self.is_sqlite else self.path
            return folder / f".{self.path.name}.{name}.lock"
        return fallback_dir / f"{name}.lock"


def _relative(text: str, root: Path | None) -> Path:
    path = Path(urllib.parse.unquote(text)).expanduser()
    if not path.is_absolute():
        path = (root or Path.cwd()) / path
    return Path(*path.parts).absolute()


def parse_tracking_uri(uri: str, root: Path | None = None) -> TrackingUri:
    """Parse `uri`; relative local paths resolve against `root` (default: the working directory).

    SQLite follows SQLAlchemy: `sqlite:///rel.db` is relative, `sqlite:////abs.db` absolute,
    `sqlite://` and `sqlite:///:memory:` in memory. A plain path is a file store, as in MLflow.
    """
    text = uri.strip()
    if not text:
        raise ConfigError("tracking.uri: empty")
    if text in _SERVER_SCHEMES:  # MLflow's bare `databricks` (the default profile)
        return TrackingUri(raw=text, scheme=text)
    scheme, sep, rest = text.partition(":")
    if not sep or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        return TrackingUri(raw=text, scheme="file", path=_relative(text, root))
    base = scheme.lower().split("+", 1)[0]
    if base == "sqlite":
        if not rest.startswith("//"):
            raise ConfigError(f"tracking.uri: {redact_secrets(text)}: expected sqlite:///PATH")
        body = rest[2:]
        location, _, query = body.partition("?")
        database = location[1:] if location.startswith("/") else location
        if database in ("", ":memory:"):
            return TrackingUri(raw=text, scheme="sqlite", query=query)
        return TrackingUri(raw=text, scheme="sqlite", path=_relative(database, root), query=query)
    if base == "file":
        parts = urllib.parse.urlsplit(text)
        location = (
            parts.path if parts.netloc in ("", "localhost") else f"//{parts.netloc}{parts.path}"
        )
        if rest.startswith("//"):
            return TrackingUri(raw=text, scheme="file", path=_relative(location, root))
        return TrackingUri(raw=text, scheme="file", path=_relative(rest, root))
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"tracking.uri: {redact_secrets(text)}: invalid port") from exc
    if base in ("http", "https") and not parts.hostname:
        raise ConfigError(f"tracking.uri: {redact_secrets(text)}: no host")
    driver = scheme.lower().partition("+")[2]
    return TrackingUri(raw=text, scheme=base, host=parts.hostname, port=port, driver=driver)
