"""The one read-only opener of MLflow's SQLite file: every direct reader refuses what it refuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import open_store
from mlops.registry.lookup import SqliteLookup
from mlops.tracking.readonly import DEFAULT_WORKSPACE, Unavailable, connect, workspace_filter
from mlops.tracking.runs import SqliteRuns, find_run_ids


def test_an_untested_schema_revision_is_refused_by_every_direct_reader(
    trained_project: Path,
) -> None:
    store = open_store()
    database = store.location.path
    assert database is not None
    with SqliteRuns.open(store) as reader:  # a tested revision: read directly
        assert reader.find(prefix="") and reader.experiment_id is not None
    with connect(database) as conn:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'abcdef012345'")
    try:
        refused = "untested MLflow schema revision 'abcdef012345'"
        with pytest.raises(Unavailable, match=refused), SqliteRuns.open(store):
            pass
        with pytest.raises(Unavailable, match="untested"):
            SqliteLookup(database).alias(store.model_name, "champion")
        with pytest.raises(Unavailable, match="untested"), connect(database):
            pass
    finally:
        with sqlite3.connect(database) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    assert find_run_ids(open_store(), prefix="")


def test_rows_of_another_workspace_are_not_read(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    database = store.location.path
    assert database is not None
    with connect(database) as conn:
        where, extra = workspace_filter(conn, "experiments")
        with pytest.raises(Unavailable, match="no nonsense table"):
            workspace_filter(conn, "nonsense")
    if not where:
        pytest.skip("this MLflow's schema has no workspaces")
    assert extra == (DEFAULT_WORKSPACE,)
    with SqliteRuns.open(store) as reader:
        assert reader.experiment_id is not None
    monkeypatch.setenv("MLFLOW_WORKSPACE", "someone-else")
    with SqliteRuns.open(store) as reader:
        assert reader.experiment_id is None and reader.find(prefix="") == []
