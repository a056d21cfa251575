"""Progress of long steps (`mlops.progress`): nobody listens by default, a reporter hears each
step with its total (drift per column, predict rows), and the CLI's bars only go to a person."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from integration.serving import feature_rows, register
from mlops import progress
from mlops.cli import bars
from mlops.config import DriftParams
from mlops.drift.run import compare_sources
from mlops.drift.source import open_table


def test_nobody_listens_by_default_and_rich_is_not_imported() -> None:
    code = (
        "import sys; from mlops import progress\n"
        "with progress.task('x', total=3, unit='rows') as step: step.advance(); step.update(note='n')\n"
        "a, b = progress.task('a'), progress.task('b')\n"
        "print(progress.active(), a is b, 'rich' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True", "False"]


def test_a_reporter_hears_the_steps_of_its_block_only() -> None:
    recorder = progress.Recorder()
    with progress.reporting(recorder):
        assert progress.active()
        with progress.task("load", total=10, unit="rows", note="big.csv") as step:
            step.advance(4)
            step.update(completed=9, total=12, note="almost")
    with progress.task("after") as step:
        step.advance()
    assert [t.name for t in recorder.tasks] == ["load"]
    (load,) = recorder.tasks
    assert (load.total, load.unit, load.completed, load.finished) == (12, "rows", 9, True)
    assert load.notes == ["big.csv", "almost"]


def _columns(path: Path, shift: float, n: int = 300) -> Path:
    rng = np.random.default_rng(int(shift * 10) + 1)
    columns = {f"x{i}": rng.normal(shift, 1.0, n) for i in range(6)}
    columns["label"] = rng.choice(["a", "b"], n)
    pq.write_table(pa.table(columns), path)
    return path


def test_drift_reports_one_step_per_compared_column(tmp_path: Path) -> None:
    reference = open_table(_columns(tmp_path / "ref.parquet", 0.0))
    current = open_table(_columns(tmp_path / "cur.parquet", 0.5))
    recorder = progress.Recorder()
    with progress.reporting(recorder):
        features, target, _, _ = compare_sources(
            reference, current, DriftParams(), target="label", skip={"x5": "excluded"}
        )
    (drift,) = recorder.named("drift")
    assert (drift.total, drift.unit) == (6, "columns")  # x0..x4 and the target; x5 skipped
    assert drift.completed == 6 and drift.updates == 6 and drift.finished
    assert len(features) == 5 and target is not None


@pytest.fixture
def champion(trained_project: Path) -> Iterator[Path]:
    register(trained_project)
    yield trained_project


def test_predict_reports_rows_against_the_total(champion: Path) -> None:
    from conftest import open_store
    from mlops.predict import predict_file

    rows = pd.concat([feature_rows(champion)] * 5, ignore_index=True)
    rows.to_parquet(champion / "rows.parquet")
    rows.to_csv(champion / "rows.csv", index=False)
    store = open_store(champion)
    recorder = progress.Recorder()
    with progress.reporting(recorder):
        for name in ("rows.parquet", "rows.csv"):
            predict_file(store, champion / name, champion / f"out-{name}", batch_size=100)
    parquet, csv = recorder.named("predict")
    # Parquet knows its rows: the total is exact from the start, one update per batch.
    assert (parquet.total, parquet.unit, parquet.completed) == (len(rows), "rows", len(rows))
    assert parquet.updates == -(-len(rows) // 100)
    # A CSV's total is estimated from its size (said so), never left below what is done.
    assert csv.completed == len(rows) and csv.total is not None and csv.total >= len(rows)
    assert csv.notes == ["estimated total (file size)"]


def test_bars_only_for_a_person_reading_text_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bars.ENV, raising=False)
    master, replica = pty.openpty()
    reader, writer = os.pipe()
    try:
        with os.fdopen(os.dup(replica), "w") as terminal, os.fdopen(writer, "w") as pipe:
            assert bars.wanted(quiet=False, log_format="text", stream=terminal)
            assert not bars.wanted(quiet=False, log_format="text", stream=pipe)
            assert not bars.wanted(quiet=True, log_format="text", stream=terminal)
            assert not bars.wanted(quiet=False, log_format="json", stream=terminal)
            monkeypatch.setenv(bars.ENV, "0")
            assert not bars.wanted(quiet=False, log_format="text", stream=terminal)
            monkeypatch.setenv(bars.ENV, "1")
            assert bars.wanted(quiet=False, log_format="text", stream=pipe)
            assert not bars.wanted(quiet=True, log_format="text", stream=pipe)
    finally:
        for fd in (master, replica, reader):
            os.close(fd)


def test_setup_installs_bars_or_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bars.ENV, "1")
    try:
        bars.setup(quiet=False, log_format="text")
        assert isinstance(progress.installed(), bars.Bars)
        bars.setup(quiet=True, log_format="text")
        assert progress.installed() is None
    finally:
        progress.install(None)
