"""Two `mlops promote` processes at once: one champion, a consistent alias history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlops import registry, tracking
from mlops.config import Config, load_config

MLOPS = Path(sys.executable).parent / "mlops"


def config(*overrides: str) -> Config:
    return load_config(Path("params.yaml"), None, tuple(overrides))


def train(*overrides: str) -> str:
    from mlops.train import run_training

    return run_training(config(*overrides)).run_id


def logged_record(run_id: str, destination: Path) -> dict[str, Any]:
    import mlflow

    tracking.connect(config().settings.tracking)
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="promotion/promotion.json", dst_path=str(destination)
    )
    data: dict[str, Any] = json.loads(Path(local).read_text())
    return data


def test_two_concurrent_promotions_end_with_exactly_one_champion(
    trained_project: Path, tmp_path: Path
) -> None:
    from mlops.promote import run_promotion

    original = run_promotion(config()).record  # v1: the template's run
    assert original.verdict == "promoted" and original.candidate.version == "1"
    # two candidates that each pass against either the other or v1
    candidates = [
        train("model.estimator=logistic_regression", "model.params={}"),
        train("model.params.max_iter=3"),
    ]

    env = {**os.environ, "MLOPS_PROMOTE_LOCK_TIMEOUT": "150"}
    procs = [
        subprocess.Popen(
            [str(MLOPS), "promote", "--run-id", run_id],
            cwd=trained_project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id in candidates
    ]
    outputs = [proc.communicate(timeout=240) for proc in procs]
    codes = [proc.returncode for proc in procs]

    # Both pass against either champion, and the lock waits long enough: the second one must
    # wait its turn and re-evaluate against the first's champion, not fail on a stale champion
    # (without the lock it exits 1: "champion ... changed during promotion").
    assert codes == [0, 0], outputs

    versions = registry.list_versions(config())
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
    assert registry.load_model(config()).version == chain[-1]
