"""`parse_tracking_uri`: the one parser of tracking URIs (SQLite, file stores, servers, databases).

Relative local paths resolve against the project root, never the working directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.errors import ConfigError
from mlops.tracking.uri import SQLITE_BUSY_TIMEOUT, parse_tracking_uri

ROOT = Path("/srv/project")


# --------------------------------------------------------------------------- SQLite


def test_a_relative_sqlite_path_resolves_against_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    parsed = parse_tracking_uri("sqlite:///mlflow.db", ROOT)
    assert parsed.scheme == "sqlite" and parsed.is_sqlite
    assert parsed.path == ROOT / "mlflow.db"
    assert parsed.is_local and not parsed.is_server and not parsed.in_memory
    assert parsed.query == ""
    assert parsed.uri == f"sqlite:///{ROOT / 'mlflow.db'}?timeout={SQLITE_BUSY_TIMEOUT}"
    assert parsed.uri == "sqlite:////srv/project/mlflow.db?timeout=60"
    assert parsed.identity == str(ROOT / "mlflow.db")
    assert parsed.shown == "sqlite:///mlflow.db"

    nested = parse_tracking_uri("sqlite:///stores/runs/mlflow.db", ROOT)
    assert nested.path == ROOT / "stores" / "runs" / "mlflow.db"


def test_an_absolute_sqlite_path_is_kept() -> None:
    parsed = parse_tracking_uri("sqlite:////abs/x.db", ROOT)
    assert parsed.path == Path("/abs/x.db")
    assert parsed.uri == "sqlite:////abs/x.db?timeout=60"
    assert parsed.identity == "/abs/x.db"


def test_sqlite_query_strings_are_kept_and_the_busy_timeout_added_only_when_absent() -> None:
    options = parse_tracking_uri("sqlite:///db/m.db?check_same_thread=false", ROOT)
    assert options.path == ROOT / "db" / "m.db"
    assert options.query == "check_same_thread=false"
    assert options.uri == f"sqlite:///{ROOT}/db/m.db?check_same_thread=false&timeout=60"

    own = parse_tracking_uri("sqlite:///mlflow.db?timeout=5", ROOT)
    assert own.query == "timeout=5"
    assert own.uri == f"sqlite:///{ROOT}/mlflow.db?timeout=5"
    assert own.uri.count("timeout=") == 1

    both = parse_tracking_uri("sqlite:///mlflow.db?timeout=5&check_same_thread=false", ROOT)
    assert both.query == "timeout=5&check_same_thread=false"
    assert both.uri == f"sqlite:///{ROOT}/mlflow.db?timeout=5&check_same_thread=false"
    # The query is an option, not part of which store it is.
    assert own.identity == both.identity == str(ROOT / "mlflow.db")


@pytest.mark.parametrize("uri", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite(uri: str) -> None:
    parsed = parse_tracking_uri(uri, ROOT)
    assert parsed.is_sqlite and parsed.in_memory
    assert parsed.path is None and not parsed.is_local
    assert parsed.uri == uri  # nothing to resolve, no busy timeout to add


def test_a_driver_suffix_names_the_same_sqlite_file() -> None:
    parsed = parse_tracking_uri("sqlite+pysqlite:///mlflow.db", ROOT)
    assert parsed.scheme == "sqlite"
    assert parsed.path == ROOT / "mlflow.db"
    assert parsed.uri == parse_tracking_uri("sqlite:///mlflow.db", ROOT).uri
    assert parsed.shown == "sqlite+pysqlite:///mlflow.db"


def test_sqlite_without_the_slashes_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected sqlite:///PATH"):
        parse_tracking_uri("sqlite:mlflow.db", ROOT)


# --------------------------------------------------------------------------- file stores


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:mlruns", ROOT / "mlruns"),
        ("file:///abs/mlruns", Path("/abs/mlruns")),
        ("file://localhost/abs/mlruns", Path("/abs/mlruns")),
        ("mlruns", ROOT / "mlruns"),
        ("./stores/mlruns", ROOT / "stores" / "mlruns"),
        ("/abs/mlruns", Path("/abs/mlruns")),
    ],
)
def test_file_stores_relative_and_absolute(uri: str, path: Path) -> None:
    parsed = parse_tracking_uri(uri, ROOT)
    assert parsed.scheme == "file"
    assert parsed.path == path
    assert parsed.is_local and not parsed.is_sqlite and not parsed.is_server
    assert parsed.uri == path.as_uri()
    assert parsed.identity == str(path)
    assert parsed.host is None and parsed.port is None


def test_without_a_root_relative_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_tracking_uri("sqlite:///mlflow.db").path == tmp_path / "mlflow.db"
    assert parse_tracking_uri("mlruns").path == tmp_path / "mlruns"


# --------------------------------------------------------------------------- servers, databases


def test_an_http_server() -> None:
    parsed = parse_tracking_uri("http://mlflow.internal:5000", ROOT)
    assert parsed.scheme == "http" and parsed.is_server
    assert (parsed.host, parsed.port) == ("mlflow.internal", 5000)
    assert parsed.path is None and not parsed.is_local and not parsed.is_sqlite
    assert parsed.uri == "http://mlflow.internal:5000"
    assert parsed.identity == "http://mlflow.internal:5000"


def test_an_https_server_with_credentials_keeps_them_out_of_identity_and_shown() -> None:
    uri = "https://alice:pw-7731@mlflow.example.com/prefix/"
    parsed = parse_tracking_uri(uri, ROOT)
    assert parsed.scheme == "https" and parsed.is_server
    assert (parsed.host, parsed.port) == ("mlflow.example.com", None)
    assert parsed.uri == uri  # MLflow is given the credentials ...
    assert parsed.identity == "https://mlflow.example.com/prefix"  # ... cache keys are not
    assert "pw-7731" not in parsed.identity and "alice" not in parsed.identity
    assert "pw-7731" not in parsed.shown
    assert "mlflow.example.com/prefix/" in parsed.shown


def test_a_postgresql_database() -> None:
    parsed = parse_tracking_uri("postgresql://user:secret@host:5432/db", ROOT)
    assert parsed.scheme == "postgresql"
    assert (parsed.host, parsed.port) == ("host", 5432)
    assert not parsed.is_server and not parsed.is_local and not parsed.is_sqlite
    assert parsed.uri.startswith("postgresql")  # + the installed driver: see below
    assert parsed.uri.endswith("://user:secret@host:5432/db")
    assert "secret" not in parsed.shown
    assert parsed.shown.startswith("postgresql://") and parsed.shown.endswith("@host:5432/db")
    assert parsed.identity == "postgresql://host:5432/db"
    assert "secret" not in parsed.identity

    driver = parse_tracking_uri("postgresql+psycopg2://user:secret@db.example/mlflow", ROOT)
    assert driver.scheme == "postgresql"
    assert (driver.host, driver.port) == ("db.example", None)
    assert "secret" not in driver.shown and "secret" not in driver.identity
    # The driver does not change which database it is (model cache keys, lock names).
    assert driver.identity == "postgresql://db.example/mlflow"


# --------------------------------------------------------------------------- locks, errors


def test_uris_differing_only_by_query_share_one_lock() -> None:
    fallback = ROOT / ".mlops"
    plain = parse_tracking_uri("sqlite:///mlflow.db", ROOT)
    tuned = parse_tracking_uri("sqlite:///mlflow.db?timeout=5", ROOT)
    absolute = parse_tracking_uri(f"sqlite:///{ROOT}/mlflow.db?check_same_thread=false", ROOT)
    lock = plain.lock_path("penguins.promote", fallback)
    assert lock == ROOT / ".mlflow.db.penguins.promote.lock"  # beside the local store
    assert tuned.lock_path("penguins.promote", fallback) == lock
    assert absolute.lock_path("penguins.promote", fallback) == lock
    assert plain.lock_path("other.promote", fallback) != lock

    server = parse_tracking_uri("http://mlflow.internal:5000", ROOT)
    assert server.lock_path("penguins.promote", fallback) == fallback / "penguins.promote.lock"


@pytest.mark.parametrize("uri", ["", "   "])
def test_an_empty_uri_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="empty"):
        parse_tracking_uri(uri, ROOT)


@pytest.mark.parametrize("uri", ["http://", "https:///path"])
def test_a_server_without_a_host_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="no host"):
        parse_tracking_uri(uri, ROOT)


def test_an_invalid_port_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError, match="invalid port") as refused:
        parse_tracking_uri("http://alice:hunter2@mlflow.internal:99999", ROOT)
    assert "hunter2" not in str(refused.value)


def test_a_bare_databricks_uri_is_a_server_not_a_local_folder() -> None:
    parsed = parse_tracking_uri("databricks", ROOT)
    assert parsed.is_server and not parsed.is_local
    assert parsed.uri == "databricks"  # as before the redesign: given to MLflow unchanged


# --------------------------------------------------------------------------- PostgreSQL drivers


def _drivers(monkeypatch: pytest.MonkeyPatch, *installed: str) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        if name in ("psycopg", "psycopg2"):
            return real("json") if name in installed else None
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        (("psycopg2",), "postgresql+psycopg2://u:p@db:5432/mlflow"),
        (("psycopg", "psycopg2"), "postgresql+psycopg://u:p@db:5432/mlflow"),
        ((), "postgresql://u:p@db:5432/mlflow"),
    ],
)
def test_a_bare_postgresql_uri_uses_the_installed_driver(
    monkeypatch: pytest.MonkeyPatch, installed: tuple[str, ...], expected: str
) -> None:
    """SQLAlchemy 2.1 maps `postgresql://` to psycopg 3; the `postgres` extra is psycopg2."""
    _drivers(monkeypatch, *installed)
    parsed = parse_tracking_uri("postgresql://u:p@db:5432/mlflow")
    assert parsed.is_postgres and parsed.driver == "" and (parsed.host, parsed.port) == ("db", 5432)
    assert parsed.uri == expected
    assert parsed.shown == "postgresql://***@db:5432/mlflow"
    named = parse_tracking_uri("postgresql+psycopg2://u:p@db/mlflow")
    assert named.driver == "psycopg2" and named.uri == named.raw


@pytest.mark.parametrize("uri", ["postgresql://u:secret@db/mlflow", "postgresql+psycopg2://db/m"])
def test_no_postgresql_driver_is_one_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, uri: str
) -> None:
    from mlops.config import TrackingSettings
    from mlops.tracking import Store

    _drivers(monkeypatch)
    store = Store(TrackingSettings(uri=uri), root=tmp_path)
    with pytest.raises(ConfigError) as caught:
        store.client  # noqa: B018  (connecting is what fails)
    message = str(caught.value)
    assert "pip install 'mlops[postgres]'" in message
    assert "\n" not in message and "secret" not in message
