"""kill -9 during `mlops promote`: `champion` always points at a version whose model loads."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from conftest import open_project, open_store
from mlops import registry
from mlops.promote.lock import lock_path

MLOPS = Path(sys.executable).parent / "mlops"
#: Set to replay a failing sequence of delays (the seed is in every failure message).
SEED_ENV = "MLOPS_KILL_SEED"


def split_features() -> Any:
    import pandas as pd

    return pd.read_parquet("data/processed/test.parquet").drop(columns=["species"])


def predictions(uri: str | None = None) -> np.ndarray:
    return np.asarray(registry.load_model(open_store(), uri).model.predict_proba(split_features()))


def lock_is_held() -> bool:
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path(open_store())), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


def versions_of(db: Path, run_id: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM model_versions WHERE run_id = ?", (run_id,)
        ).fetchone()
    return int(count)


def alias_version(db: Path, alias: str) -> int | None:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute(
            "SELECT version FROM registered_model_aliases WHERE alias = ?", (alias,)
        ).fetchone()
    return None if row is None else int(row[0])


def promote(run_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(MLOPS), "promote", "--run-id", run_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "MLOPS_PROMOTE_LOCK_TIMEOUT": "60"},
    )


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float) -> bool:
    """SIGKILL `proc` as soon as `ready()`; False when it exited (or timed out) first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return proc.returncode == -signal.SIGKILL
        time.sleep(0.01)
    proc.kill()
    proc.wait(timeout=30)
    return False


def test_kill_9_at_any_point_leaves_a_loadable_champion(trained_project: Path) -> None:
    from mlops.promote import run_promotion
    from mlops.train import run_training

    seed = int(os.environ.get(SEED_ENV, time.time_ns() % 10**9))
    rng = random.Random(seed)
    candidate = str(json.loads(Path("models/run.json").read_text())["run_id"])
    weak_overrides = ("model.params.max_iter=3",)
    weak = run_training(
        open_project(None, *weak_overrides), open_store(None, *weak_overrides)
    ).run_id
    assert run_promotion(open_project(), open_store(), weak).record.aliases == {"champion": "1"}
    db = trained_project / "mlflow.db"
    expected = {
        "1": predictions(),
        "candidate": predictions(open_store().logged_model_uri(candidate)),
    }

    def after(delay: float) -> Callable[[], bool]:
        start = time.monotonic()
        return lambda: time.monotonic() - start >= delay

    def lock_taken_then(delay: float) -> Callable[[], bool]:
        taken: list[float] = []

        def ready() -> bool:
            if not taken and lock_is_held():
                taken.append(time.monotonic())
            return bool(taken) and time.monotonic() - taken[0] >= delay

        return ready

    def between_aliases() -> bool:
        """`previous` moved to the old champion, `champion` not yet moved."""
        return alias_version(db, "previous") == 1 and alias_version(db, "champion") == 1

    early, rescoring, late = rng.uniform(0.2, 2.0), rng.uniform(0.0, 0.6), rng.uniform(0.5, 8.0)
    points: list[tuple[str, Callable[[], bool]]] = [
        (f"start-up, after {early:.2f}s", after(early)),
        # registered as a new version, aliases not moved yet
        ("version registered", lambda: versions_of(db, candidate) > 0),
        (f"lock taken + {rescoring:.2f}s", lock_taken_then(rescoring)),
        ("between the alias moves", between_aliases),
        (f"after {late:.2f}s", after(late)),
    ]
    killed = []
    for name, ready in points:
        where = f"kill at {name!r} (seed {seed})"
        if kill_when(promote(candidate), ready, timeout=120):
            killed.append(name)
        state = {a: alias_version(db, a) for a in ("champion", "previous", "challenger")}
        champion = registry.get_alias(open_store(), "champion")
        assert champion is not None, where
        # the champion loads, and serves one of the two models whole
        loaded = predictions(champion.uri)
        model = "1" if champion.version == "1" else "candidate"
        assert np.array_equal(loaded, expected[model]), (where, state)
        if model == "candidate":
            assert state["previous"] == 1, (where, state)
        assert versions_of(db, candidate) <= 1, where
        assert not lock_is_held(), f"{where}: lock still held after the process died"
        if Path("reports/promotion.json").exists():
            json.loads(Path("reports/promotion.json").read_text())  # never half-written
    # the start-up kill and the mid-registry kill land before the process can finish
    assert {"version registered"} <= set(killed), (killed, seed)

    done = subprocess.run(
        [str(MLOPS), "promote", "--run-id", candidate], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, (done.stdout, done.stderr, seed)
    assert "Traceback" not in done.stderr
    champion = registry.get_alias(open_store(), "champion")
    assert champion is not None and champion.run_id == candidate
    assert versions_of(db, candidate) == 1
    assert alias_version(db, "previous") == 1
    assert np.array_equal(predictions(), expected["candidate"])
