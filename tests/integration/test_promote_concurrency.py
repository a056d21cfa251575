"""Two `mlops promote` processes at once: one champion, a consistent alias history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import open_project, open_store
from mlops import registry
from mlops.config import TrackingSettings
from mlops.promote.lock import lock_path
from mlops.tracking import Store

MLOPS = Path(sys.executable).parent / "mlops"
#: The same SQLite store, written two ways: only the query string differs.
PLAIN_URI = "sqlite:///mlflow.db"
QUERY_URI = "sqlite:///mlflow.db?timeout=30"
#: No guard metrics: only the primary metric's tolerance decides. With the example's guards
#: (every gated metric vs the champion), whichever candidate goes second may be rejected.
PRIMARY_ONLY = ("--set", "gate.guard=[]")


def train(*overrides: str) -> str:
    from mlops.train import run_training

    return run_training(open_project(None, *overrides), open_store(None, *overrides)).run_id


def logged_record(run_id: str, destination: Path) -> dict[str, Any]:
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="promotion/promotion.json",
        dst_path=str(destination),
        tracking_uri=open_store().uri,
    )
    data: dict[str, Any] = json.loads(Path(local).read_text())
    return data


def config_with_uri(project: Path, name: str, uri: str) -> Path:
    """A copy of the project's config file whose `tracking.uri` is `uri`."""
    settings = yaml.safe_load((project / "configs" / "local.yaml").read_text())
    settings["tracking"]["uri"] = uri
    path = project / "configs" / name
    path.write_text(yaml.safe_dump(settings))
    return path


def test_lock_path_ignores_the_query_of_a_sqlite_uri(tmp_path: Path) -> None:
    plain = Store(TrackingSettings(uri=PLAIN_URI), root=tmp_path)
    query = Store(TrackingSettings(uri=QUERY_URI), root=tmp_path)
    assert plain.uri != query.uri  # MLflow is given each URI as written...
    assert lock_path(plain) == lock_path(query)  # ...but both lock the one store
    assert lock_path(plain).parent == tmp_path
    assert lock_path(plain).name.startswith(".mlflow.db.")


@pytest.mark.parametrize("uris", ["same config", "uris differing by query"])
def test_two_concurrent_promotions_end_with_exactly_one_champion(
    uris: str, trained_project: Path, tmp_path: Path
) -> None:
    from mlops.promote import run_promotion

    original = run_promotion(open_project(), open_store()).record  # v1: the template's run
    assert original.verdict == "promoted" and original.candidate.version == "1"
    # two candidates that each pass against either the other or v1: the primary metric's
    # tolerance alone decides (no guard metrics), so both are acceptable whichever goes first
    candidates = [
        train("model.estimator=logistic_regression", "model.params={}"),
        train("model.params.max_iter=3"),
    ]
    if uris == "same config":
        options: list[list[str]] = [[], []]
    else:
        # One store named two ways: the lock must still be one lock (derived from the parsed
        # database path, not the URI text), or both promotions decide against v1 at once.
        configs = [
            config_with_uri(trained_project, "plain.yaml", PLAIN_URI),
            config_with_uri(trained_project, "query.yaml", QUERY_URI),
        ]
        options = [["--config", str(path)] for path in configs]

    env = {**os.environ, "MLOPS_PROMOTE_LOCK_TIMEOUT": "150"}
    procs = [
        subprocess.Popen(
            [str(MLOPS), *opts, *PRIMARY_ONLY, "promote", "--run-id", run_id],
            cwd=trained_project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for opts, run_id in zip(options, candidates, strict=True)
    ]
    outputs = [proc.communicate(timeout=240) for proc in procs]
    codes = [proc.returncode for proc in procs]

    # Both pass against either champion, and the lock waits long enough: the second one must
    # wait its turn and re-evaluate against the first's champion, not fail on a stale champion
    # (without the lock it exits 1: "champion ... changed during promotion").
    assert codes == [0, 0], outputs

    store = open_store()
    versions = registry.list_versions(store)
    champions = [v for v in versions if "champion" in v.aliases]
    assert len(champions) == 1, versions
    run_ids = [v.run_id for v in versions]
    assert len(run_ids) == len(set(run_ids)), "a run was registered twice"

    # The alias history is a chain: each promotion was decided against the champion the
    # previous one left behind (re-read under the lock), never against a stale one.
    records = [logged_record(run_id, tmp_path / run_id) for run_id in candidates]
    records.sort(key=lambda rec: int(rec["candidate"]["version"]))
    chain = ["1", *[rec["candidate"]["version"] for rec in records]]
    assert chain[1:] == ["2", "3"]
    for before, rec in zip(chain, records, strict=False):
        assert rec["verdict"] == "promoted", rec["message"]
        assert rec["champion"]["version"] == before, (chain, rec["champion"])
        assert rec["aliases"] == {"champion": rec["candidate"]["version"], "previous": before}
    by_alias = {alias: v.version for v in versions for alias in v.aliases}
    assert by_alias["champion"] == chain[-1] and by_alias["previous"] == chain[-2]
    # the local record is one of the two, whole (atomic writes)
    assert json.loads(Path("reports/promotion.json").read_text()) in records
    assert registry.load_model(store).version == chain[-1]
