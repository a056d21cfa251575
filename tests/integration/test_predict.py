"""Batch scoring end to end: an interrupted run writes nothing; memory follows the chunk size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import open_store
from mlops.predict import predict_file

from .serving import feature_rows, process_env, register


@pytest.fixture
def champion(trained_project: Path) -> Path:
    register(trained_project)
    return trained_project


def test_an_interrupted_run_leaves_no_output(champion: Path) -> None:
    pd.concat([feature_rows(champion)] * 10).to_parquet(champion / "rows.parquet")
    seen: list[int] = []

    def interrupt(done: int, total: int | None) -> None:
        seen.append(done)
        raise KeyboardInterrupt  # Ctrl-C after the first chunk is written to the temp file

    with pytest.raises(KeyboardInterrupt):
        predict_file(
            open_store(),
            champion / "rows.parquet",
            champion / "out.parquet",
            batch_size=100,
            on_progress=interrupt,
        )
    assert seen == [100]
    assert not (champion / "out.parquet").exists()
    assert [p.name for p in champion.iterdir() if p.name.startswith(".out.parquet")] == []


PEAKS = """
import json, resource, sys
from pathlib import Path
from mlops.predict import predict_file
from mlops.project import open_project
from mlops.tracking import Store

store, peaks = Store.for_project(open_project()), []
for name in sys.argv[1:]:
    predict_file(store, Path(name), Path("out-" + name), batch_size=5000)
    peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(peaks))
"""


@pytest.mark.slow
def test_memory_follows_the_chunk_size_not_the_file_size(champion: Path) -> None:
    rows = feature_rows(champion)
    small_rows, big_rows = 5_000, 200_000
    big = rows.iloc[np.arange(big_rows) % len(rows)].reset_index(drop=True)
    big.to_parquet(champion / "big.parquet", row_group_size=20_000)
    big.head(small_rows).to_parquet(champion / "small.parquet")
    # Scoring the big file whole would hold its rows, their features and outputs: > 50 MB.
    assert big.memory_usage(deep=True).sum() / 1e6 > 12

    # One OpenMP thread: this is about memory, and a busy machine stalls parallel regions.
    done = subprocess.run(
        [sys.executable, "-c", PEAKS, "small.parquet", "big.parquet"],
        cwd=champion,
        env={**process_env(), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    small, large = json.loads(done.stdout.strip().splitlines()[-1])  # high-water marks, in order
    assert len(pd.read_parquet(champion / "out-big.parquet", columns=["prediction"])) == big_rows
    assert large - small < 20, (small, large)
