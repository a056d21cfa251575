"""The team stack for real: `configs/team.yaml` against an MLflow server on PostgreSQL and a
DVC remote on an S3 server (`rclone serve s3`), all on 127.0.0.1 (fixtures: tests/services.py).

One project runs the lifecycle once (module scope): `dvc repro` tracking to the server,
`mlops promote`, `mlops models list`, `mlops data push` to S3, the cache removed and pulled
back, `mlops data verify`, and `mlops serve` following `@champion` on the server.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.helpers import run_mlops
from services import (
    BUCKET,
    MlflowServer,
    PostgresCluster,
    S3Server,
    TeamProject,
    make_team_project,
)

from .registry_helpers import keep_mlflow_uris
from .serving import Server, feature_rows

__all__ = ["keep_mlflow_uris"]  # an autouse fixture, used by being imported

MODEL = "penguins-team"


@dataclass
class Lifecycle:
    project: TeamProject
    repro: str
    champion: str


def ok(done: object, code: int = 0) -> str:
    result = done  # a CompletedProcess[str]
    out = f"{result.stdout}{result.stderr}"  # type: ignore[attr-defined]
    assert result.returncode == code, out  # type: ignore[attr-defined]
    assert "Traceback" not in out
    return out


def models(project: TeamProject) -> list[dict[str, object]]:
    listed = project.mlops("models", "list", "--json")
    ok(listed)
    found = json.loads(listed.stdout)
    return list(found["versions"] if isinstance(found, dict) else found)


@pytest.fixture(scope="module")
def lifecycle(
    team_server: MlflowServer, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lifecycle]:
    project = make_team_project(
        tmp_path_factory.mktemp("team") / "project",
        team_server,
        s3_server,
        model_name=MODEL,
        reload_interval=0.3,
    )
    repro = ok(project.run("dvc", "repro"))
    promote = ok(project.mlops("promote"))
    assert "promoted v1" in promote
    yield Lifecycle(project, repro, "1")


def test_repro_tracks_to_the_server_on_postgres(lifecycle: Lifecycle) -> None:
    """`dvc repro` ran the stages with configs/team.yaml: the runs are on the server (in
    PostgreSQL), the model files behind its artifact proxy, nothing in a local store."""
    root = lifecycle.project.root
    assert not (root / "mlflow.db").exists()
    assert not (root / "mlartifacts").exists()
    run = json.loads((root / "models" / "run.json").read_text())
    server = lifecycle.project.server
    model_id = run["model_uri"].removeprefix("models:/")
    assert list(server.artifacts.rglob(f"{model_id}/**/MLmodel"))
    assert server.backend.startswith("postgresql")

    import psycopg2

    from services import PG_PASSWORD, PG_USER

    port = int(server.backend.rsplit(":", 1)[1].split("/", 1)[0])
    conn = psycopg2.connect(
        host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD, dbname="mlflow_team"
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_uuid = %s", (run["run_id"],))
            assert cursor.fetchone() == ("FINISHED",)
            cursor.execute(
                "SELECT version FROM registered_model_aliases WHERE name = %s AND alias = %s",
                (MODEL, "champion"),
            )
            assert cursor.fetchone() == (int(lifecycle.champion),)
    finally:
        conn.close()


def test_models_list_shows_the_champion(lifecycle: Lifecycle) -> None:
    listed = models(lifecycle.project)
    assert len(listed) == 1
    assert "champion" in listed[0]["aliases"]  # type: ignore[operator]


def test_data_push_pull_verify_through_s3(lifecycle: Lifecycle) -> None:
    project = lifecycle.project
    s3 = project.s3
    pushed = ok(project.mlops("data", "push"))
    assert "pushed" in pushed
    stored = s3.objects(MODEL)
    assert len(stored) >= 4, stored  # raw, train, test, model: plain files in the bucket
    assert all(path.stat().st_size > 0 for path in stored)
    assert str(stored[0]).startswith(str(s3.root / BUCKET / MODEL))
    status = project.mlops("data", "status", "--json")
    ok(status)
    assert json.loads(status.stdout)["remote"] == {}

    tracked = [
        project.root / "data" / "raw" / "dataset.parquet",
        project.root / "data" / "processed" / "train.parquet",
        project.root / "models" / "model.skops",
    ]
    before = {path: path.read_bytes() for path in tracked}
    shutil.rmtree(project.root / ".dvc" / "cache")
    for path in tracked:
        path.unlink()
    pulled = ok(project.mlops("data", "pull"))
    assert "verify passed" in pulled
    assert {path: path.read_bytes() for path in tracked} == before
    verified = ok(project.mlops("data", "verify"))
    assert "verify passed" in verified


def test_serve_follows_the_champion_on_the_server(lifecycle: Lifecycle) -> None:
    project = lifecycle.project
    rows = feature_rows(project.root).head(8)
    payload = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
    server = Server.start(project.root, env=project.env)
    try:
        health = server.wait_ready(timeout=120)
        assert health.json() == {"status": "ready", "model": MODEL, "version": "1"}
        first = server.post(payload)
        assert first.status == 200, first.body
        assert len(first.json()["predictions"]) == len(rows)

        # A second version, trained and promoted through the server: serve swaps to it.
        ok(project.mlops("--set", "model.estimator=random_forest", "train"))
        ok(project.mlops("eval"))
        ok(project.mlops("promote", "--force", "--reason", "team stack test"))
        listed = {str(v["version"]): v for v in models(project)}
        assert "champion" in listed["2"]["aliases"]  # type: ignore[operator]
        server.wait_for("/version", lambda r: r.status == 200 and r.json()["version"] == "2")
        second = server.post(payload)
        assert second.status == 200, second.body
        assert len(second.json()["predictions"]) == len(rows)
    finally:
        server.stop()
    assert "Traceback" not in server.output()


# --------------------------------------------------------------------------- PostgreSQL directly


def test_a_postgresql_tracking_uri_works_directly(
    postgres: PostgresCluster, trained_template: Path, tmp_path: Path
) -> None:
    """`tracking.uri: postgresql://...` (no server): train, promote, list, and score with the
    champion, whose lookup has no MLflow-free reader for PostgreSQL and uses the client."""
    from conftest import open_store
    from mlops import registry
    from mlops.registry.lookup import Unavailable, open_lookup

    from .registry_helpers import set_tracking_uri

    uri = postgres.create_database("mlops_direct")
    assert uri.startswith("postgresql://mlops:")  # bare: the installed driver is picked
    project = tmp_path / "project"
    shutil.copytree(trained_template, project)
    shutil.rmtree(project / "mlartifacts", ignore_errors=True)
    (project / "mlflow.db").unlink()
    set_tracking_uri(project, uri)

    ok(run_mlops("train", cwd=project))
    promoted = ok(run_mlops("promote", cwd=project))
    assert "promoted v1" in promoted
    listed = run_mlops("models", "list", "--json", cwd=project)
    versions = json.loads(ok(listed) and listed.stdout)["versions"]
    assert [(v["version"], v["aliases"]) for v in versions] == [("1", ["champion"])]
    assert "secret" not in listed.stdout + listed.stderr

    store = open_store(project)
    with pytest.raises(Unavailable):
        open_lookup(store.location)
    champion = registry.get_alias(store, "champion")
    assert champion is not None and champion.version == "1"

    rows = feature_rows(project).head(5)
    rows.to_csv(tmp_path / "batch.csv", index=False)
    ok(run_mlops("predict", str(tmp_path / "batch.csv"), str(tmp_path / "out.csv"), cwd=project))
    assert "model_version" in (tmp_path / "out.csv").read_text().splitlines()[0]
