"""Read-only registry lookups that do not import MLflow: aliases and versions, in milliseconds.

A scoring process only needs "which version does `champion` point at, and where are its
files?". Two stores answer that cheaply:

- the embedded default, a SQLite file: one read-only query on MLflow's registry tables
  (`registered_model_aliases`, `model_versions`, `model_version_tags`);
- a tracking server (`http(s)://`): MLflow's documented REST API
  (`GET /api/2.0/mlflow/registered-models/alias`, `GET …/model-versions/get`).

Any other store, or a SQLite file whose schema is not one this code was tested with (not
created yet, or an MLflow migration newer or older than `TESTED_REVISIONS`; checked by the
shared read-only opener `mlops.tracking.readonly.connect`), raises `Unavailable`, and callers
go through the MLflow client instead.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from mlops.errors import RegistryError, redact_secrets
from mlops.registry.local import ModelRef, ModelVersionInfo, check_ready
from mlops.tracking.readonly import (
    DEFAULT_WORKSPACE,
    TESTED_REVISIONS,
    Unavailable,
    connect,
    workspace_filter,
)
from mlops.tracking.uri import TrackingUri, parse_tracking_uri

__all__ = [
    "DEFAULT_WORKSPACE",
    "TESTED_REVISIONS",
    "Lookup",
    "RestLookup",
    "SqliteLookup",
    "Unavailable",
    "open_lookup",
    "resolve",
]

HTTP_TIMEOUT = 10.0


class Lookup(Protocol):
    #: Identifies the store (for cache keys): a database path or a server URL, no secrets.
    identity: str

    def alias(self, name: str, alias: str) -> ModelVersionInfo | None: ...

    def version(self, name: str, version: str) -> ModelVersionInfo | None: ...


def open_lookup(location: TrackingUri | str) -> Lookup:
    """A lookup for this store; `Unavailable` (here, or from a SQLite lookup's first query when
    the file is missing, lacks MLflow's tables or has an untested schema revision) means only
    the MLflow client can read it."""
    if isinstance(location, str):
        location = parse_tracking_uri(location)
    if location.is_sqlite:
        if location.path is None:
            raise Unavailable("in-memory SQLite store")
        return SqliteLookup(location.path)
    if location.scheme in ("http", "https"):
        return RestLookup(location.raw)
    raise Unavailable(f"no MLflow-free reader for {location.scheme} stores")


def no_alias(name: str, alias: str) -> RegistryError:
    """The error for a missing alias; a missing champion says how one is made."""
    hint = " (nothing promoted yet: run `mlops promote`)" if alias == "champion" else ""
    return RegistryError(f"registry: model {name!r} has no alias {alias!r}{hint}")


def resolve(lookup: Lookup, ref: ModelRef) -> ModelVersionInfo:
    """The version `ref` names (RegistryError when the model, alias or version is missing)."""
    if ref.alias is not None:
        found = lookup.alias(ref.name, ref.alias)
        if found is None:
            raise no_alias(ref.name, ref.alias)
    else:
        found = lookup.version(ref.name, str(ref.version))
        if found is None:
            raise RegistryError(f"registry: model {ref.name!r} has no version {ref.version}")
    return check_ready(found)


# --------------------------------------------------------------------------- SQLite


class SqliteLookup:
    """MLflow's registry tables in a SQLite file, read through a read-only connection."""

    def __init__(self, database: Path) -> None:
        self.database = database.resolve()
        self.identity = str(self.database)

    def alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        with connect(self.database) as conn:
            where, extra = workspace_filter(conn, "registered_model_aliases")
            row = conn.execute(
                f"SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?{where}",
                (name, alias, *extra),
            ).fetchone()
            if row is None:
                return None
            return self._version(conn, name, str(row[0]), (alias,))

    def version(self, name: str, version: str) -> ModelVersionInfo | None:
        with connect(self.database) as conn:
            where, extra = workspace_filter(conn, "registered_model_aliases")
            aliases = tuple(
                sorted(
                    row[0]
                    for row in conn.execute(
                        "SELECT alias FROM registered_model_aliases "
                        f"WHERE name = ? AND version = ?{where}",
                        (name, int(version), *extra),
                    )
                )
            )
            return self._version(conn, name, version, aliases)

    def _version(
        self, conn: sqlite3.Connection, name: str, version: str, aliases: tuple[str, ...]
    ) -> ModelVersionInfo | None:
        where, extra = workspace_filter(conn, "model_versions")
        row = conn.execute(
            "SELECT source, storage_location, run_id, status, creation_time FROM model_versions "
            f"WHERE name = ? AND version = ? AND current_stage != 'Deleted_Internal'{where}",
            (name, int(version), *extra),
        ).fetchone()
        if row is None:
            return None
        source, location, run_id, status, created = row
        tags = dict(
            conn.execute(
                f"SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?{where}",
                (name, int(version), *extra),
            ).fetchall()
        )
        return ModelVersionInfo(
            name=name,
            version=str(version),
            aliases=aliases,
            run_id=run_id,
            source=str(source or ""),
            created_ms=int(created or 0),
            status=str(status or ""),
            tags=tags,
            storage_location=location,
        )


# --------------------------------------------------------------------------- REST


class RestLookup:
    """An MLflow tracking server's registry REST API (auth and TLS from MLflow's variables)."""

    def __init__(self, uri: str) -> None:
        parts = urllib.parse.urlsplit(uri)
        self._user = urllib.parse.unquote(parts.username or "")
        self._password = urllib.parse.unquote(parts.password or "")
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.identity = self.base

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME") or self._user
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or self._password
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return headers

    def _context(self) -> ssl.SSLContext | None:
        if not self.base.startswith("https://"):
            return None
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            return ssl._create_unverified_context()  # the user asked for it
        return ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))

    def _get(self, endpoint: str, **params: str) -> dict[str, Any] | None:
        url = f"{self.base}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers=self._headers())
        try:
            with urllib.request.urlopen(  # http(s) only: see open_lookup
                request, timeout=HTTP_TIMEOUT, context=self._context()
            ) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read()[:2000].decode("utf-8", "replace")
            if exc.code == 404 or "RESOURCE_DOES_NOT_EXIST" in body or _not_found(exc.code, body):
                return None
            raise RegistryError(
                f"registry: {self.base} answered {exc.code} to {endpoint}: "
                f"{redact_secrets(_message(body))}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise RegistryError(f"registry: cannot reach {self.base} ({exc})") from exc
        return payload if isinstance(payload, dict) else None

    def alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        found = self._get("registered-models/alias", name=name, alias=alias)
        return _from_rest(found.get("model_version")) if found else None

    def version(self, name: str, version: str) -> ModelVersionInfo | None:
        found = self._get("model-versions/get", name=name, version=version)
        return _from_rest(found.get("model_version")) if found else None


def _not_found(status: int, body: str) -> bool:
    """MLflow answers 400 INVALID_PARAMETER_VALUE "... alias x not found" for a missing alias."""
    return status == 400 and "INVALID_PARAMETER_VALUE" in body and "not found" in body.lower()


def _message(body: str) -> str:
    try:
        return str(json.loads(body).get("message", body))[:300]
    except (ValueError, AttributeError):
        return body.splitlines()[0][:300] if body else "no details"


def _from_rest(version: Any) -> ModelVersionInfo | None:
    if not isinstance(version, dict):
        return None
    tags = {str(t.get("key")): str(t.get("value", "")) for t in version.get("tags") or []}
    return ModelVersionInfo(
        name=str(version.get("name", "")),
        version=str(version.get("version", "")),
        aliases=tuple(version.get("aliases") or ()),
        run_id=version.get("run_id"),
        source=str(version.get("source", "")),
        created_ms=int(version.get("creation_timestamp") or 0),
        status=str(version.get("status", "")),
        tags=tags,
    )
