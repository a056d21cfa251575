"""The team stack losing a service mid-command: PostgreSQL under the MLflow server stopped
while `mlops train` / `mlops promote` run, the S3 store down for `mlops data push`.

Each command ends with exit 1 and one `error:` line (no traceback); once the service is back
a rerun succeeds and the registry holds nothing half-done. A run whose store vanished cannot
be marked FAILED; it stays RUNNING only until the next command on this host connects, which
reaps it as KILLED (tag `mlops.reaped`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import (
    BIN,
    PG_PASSWORD,
    PG_USER,
    MlflowServer,
    PostgresCluster,
    S3Server,
    TeamProject,
    make_team_project,
)

MODEL = "penguins-team-faults"


@pytest.fixture(scope="module")
def s3_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Its own object store: these tests stop it."""
    with S3Server.running(tmp_path_factory.mktemp("s3-faults") / "store") as server:
        yield server


@pytest.fixture(scope="module")
def team(
    team_server: MlflowServer,
    s3_private: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> TeamProject:
    """The pipeline run once through the team stack, v1 the champion."""
    project = make_team_project(
        tmp_path_factory.mktemp("team-faults") / "project", team_server, s3_private,
        model_name=MODEL,
    )  # fmt: skip
    done = project.run("dvc", "repro")
    assert done.returncode == 0, done.stderr
    done = project.mlops("promote")
    assert done.returncode == 0, done.stderr
    return project


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def run_paused(
    project: TeamProject, point: str, folder: Path, action: object, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run `mlops ARGS`, pausing at fault point `point`; call `action()` there, then resume."""
    env = {**project.env, "MLOPS_FAULT_POINT": point, "MLOPS_FAULT_PAUSE": str(folder)}
    process = subprocess.Popen(
        [str(BIN / "mlops"), *args],
        cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (folder / "reached").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"never reached {point}"
            time.sleep(0.05)
        action()  # type: ignore[operator]
    finally:
        (folder / "resume").touch()
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def query(postgres: PostgresCluster, sql: str, *params: object) -> list[tuple[object, ...]]:
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1", port=postgres.port, user=PG_USER, password=PG_PASSWORD,
        dbname="mlflow_team",
    )  # fmt: skip
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def registry_state(postgres: PostgresCluster) -> tuple[list[tuple[object, ...]], dict[str, int]]:
    versions = query(
        postgres,
        "SELECT version, status, source FROM model_versions WHERE name = %s ORDER BY version",
        MODEL,
    )
    aliases = query(
        postgres, "SELECT alias, version FROM registered_model_aliases WHERE name = %s", MODEL
    )
    return versions, {str(alias): int(str(version)) for alias, version in aliases}


@pytest.fixture
def restart_postgres(postgres: PostgresCluster) -> Iterator[None]:
    """Whatever happens, PostgreSQL is running again after the test (the session shares it)."""
    yield
    if not postgres.running:
        postgres.start()


@pytest.mark.slow
@pytest.mark.usefixtures("restart_postgres")
def test_postgres_gone_mid_train(
    team: TeamProject, postgres: PostgresCluster, tmp_path: Path
) -> None:
    before = registry_state(postgres)
    failed = run_paused(team, "train.in_run", tmp_path / "pause", postgres.stop, "train")
    line = one_error_line(failed)
    assert "tracking store http://127.0.0.1:" in line, line
    found = re.search(r"run ([0-9a-f]{32})", line)
    assert found, line
    run_id = found.group(1)

    postgres.start()
    assert team.server.healthy()  # the server reconnects by itself (pre-ping)
    # The next command reaps the run its dead process left RUNNING ...
    rerun = team.mlops("train")
    assert rerun.returncode == 0, rerun.stderr
    status = query(postgres, "SELECT status FROM runs WHERE run_uuid = %s", run_id)
    assert status == [("KILLED",)]
    reaped = query(
        postgres, "SELECT value FROM tags WHERE run_uuid = %s AND key = 'mlops.reaped'", run_id
    )
    assert reaped == [("process gone",)]
    # ... and the registry did not change.
    assert registry_state(postgres) == before


@pytest.mark.slow
@pytest.mark.usefixtures("restart_postgres")
def test_postgres_gone_mid_promote(
    team: TeamProject, postgres: PostgresCluster, tmp_path: Path
) -> None:
    trained = team.mlops("train")
    assert trained.returncode == 0, trained.stderr
    assert team.mlops("eval").returncode == 0
    versions, aliases = registry_state(postgres)
    champion = aliases["champion"]
    promote = ("promote", "--force", "--reason", "fault test")

    failed = run_paused(team, "promote.after_register", tmp_path / "pause", postgres.stop, *promote)
    line = one_error_line(failed)
    assert "127.0.0.1" in line, line
    postgres.start()

    after, moved = registry_state(postgres)
    assert moved.get("champion") == champion  # the champion did not move
    # What was registered is whole: a READY version whose model exists on the server.
    for version, state, source in after:
        assert state == "READY", (version, state)
        assert str(source).startswith("models:/"), source
    assert len(after) <= len(versions) + 1

    rerun = team.mlops(*promote)
    assert rerun.returncode == 0, rerun.stderr
    final, final_aliases = registry_state(postgres)
    assert len(final) == len(versions) + 1  # the rerun reused the version, if one was made
    assert final_aliases["champion"] == int(str(final[-1][0]))
    listed = json.loads(team.mlops("models", "list", "--json").stdout)
    assert "champion" in listed["versions"][0]["aliases"] or any(
        "champion" in v["aliases"] for v in listed["versions"]
    )


@pytest.mark.slow
def test_object_store_gone_for_push(team: TeamProject, s3_private: S3Server) -> None:
    # The tests above retrained outside `dvc repro` (models/run.json is not cached, so no
    # checkout restores it): record the workspace as it is in dvc.lock, then push that.
    restored = team.run("dvc", "commit", "--force", "dvc.yaml")
    assert restored.returncode == 0, restored.stderr
    s3_private.stop()
    try:
        started = time.monotonic()
        failed = team.mlops("data", "push", timeout=300)
        elapsed = time.monotonic() - started
        line = one_error_line(failed)
        assert line.startswith("error: dvc push (remote 'team'): "), line
        assert "Could not connect to the endpoint URL" in line, line
    finally:
        s3_private.start()
    assert elapsed < 120, elapsed
    pushed = team.mlops("data", "push")
    assert pushed.returncode == 0, pushed.stderr
    assert len(s3_private.objects(MODEL)) >= 4
    status = team.mlops("data", "status", "--json")
    assert json.loads(status.stdout)["remote"] == {}
    verify = team.mlops("data", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
