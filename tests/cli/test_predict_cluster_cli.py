"""`mlops predict --cluster`: the same output as in-process, the same checks first, no leftovers.

Real Dask clusters of worker processes: `local:2` started by the command itself, and one
LocalCluster per module reached as `tcp://` (a scheduler that already runs).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import open_store
from integration.serving import feature_rows, register
from mlops import registry
from mlops.errors import ModelLoadError
from mlops.predict import predict_file

from .conftest import Invoke
from .helpers import assert_one_line_error

pytest.importorskip("distributed")

#: Six row groups of 2,000 rows (gathered into partitions), then one of 30,000 (cut in slices).
SMALL_GROUPS, SMALL_ROWS, BIG_ROWS = 6, 2_000, 30_000


@pytest.fixture
def champion(trained_project: Path) -> Path:
    register(trained_project)
    return trained_project


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a running two-worker cluster (what `--cluster tcp://...` connects to)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield str(cluster.scheduler_address)


def _write_groups(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:
        for group in range(SMALL_GROUPS):
            writer.write_table(table.slice(group * SMALL_ROWS, SMALL_ROWS))
        writer.write_table(table.slice(SMALL_GROUPS * SMALL_ROWS))


def _many_rows(champion: Path) -> pd.DataFrame:
    rows = feature_rows(champion)
    total = SMALL_GROUPS * SMALL_ROWS + BIG_ROWS
    return rows.iloc[np.arange(total) % len(rows)].reset_index(drop=True)


def _leftovers(directory: Path, name: str) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(f".{name}.")]


def test_a_local_cluster_writes_what_in_process_scoring_writes(cli: Invoke, champion: Path) -> None:
    source = champion / "rows.parquet"
    _write_groups(_many_rows(champion).assign(customer_id=lambda f: np.arange(len(f))), source)
    assert pq.ParquetFile(source).metadata.num_row_groups == SMALL_GROUPS + 1
    assert cli("predict", "rows.parquet", "here.parquet").exit_code == 0
    result = cli("predict", "rows.parquet", "there.parquet", "--cluster", "local:2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "there.parquet"
    lines = result.stderr.splitlines()  # nothing from Dask or the workers
    assert [line.split(" ")[0] for line in lines] == ["warning:", "scored"], lines
    assert "on local:2 (" in lines[1]
    here, there = (
        pq.read_table(champion / "here.parquet"),
        pq.read_table(champion / "there.parquet"),
    )
    assert there.schema == here.schema  # same columns, same types, same order
    assert there.num_rows == SMALL_GROUPS * SMALL_ROWS + BIG_ROWS
    assert there.equals(here)  # same rows in the same order, same values
    assert _leftovers(champion, "there.parquet") == []


def test_a_failing_partition_leaves_no_output_and_no_parts(
    cli: Invoke, champion: Path, scheduler: str
) -> None:
    frame = _many_rows(champion)
    bad_row = SMALL_GROUPS * SMALL_ROWS + BIG_ROWS - 5  # in the last slice of the big group
    frame.loc[bad_row, "bill_length_mm"] = float("inf")
    _write_groups(frame, champion / "rows.parquet")
    result = cli("predict", "rows.parquet", "out.parquet", "--cluster", scheduler)
    line = assert_one_line_error(result, r"rows\.parquet: rows \d+-\d+: .*infinite values")
    low, high = map(int, line.split(": rows ")[1].split(":")[0].split("-"))
    assert SMALL_GROUPS * SMALL_ROWS <= low <= bad_row <= high  # the failing slice, not the file
    assert not (champion / "out.parquet").exists()
    assert _leftovers(champion, "out.parquet") == []


def test_an_interrupted_cluster_run_leaves_nothing(champion: Path, scheduler: str) -> None:
    _write_groups(_many_rows(champion), champion / "rows.parquet")
    seen: list[int] = []

    def interrupt(done: int, total: int | None) -> None:
        seen.append(done)
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM, which the CLI turns into it)

    with pytest.raises(KeyboardInterrupt):
        predict_file(
            open_store(),
            champion / "rows.parquet",
            champion / "out.parquet",
            cluster=scheduler,
            on_progress=interrupt,
        )
    assert len(seen) == 1
    assert not (champion / "out.parquet").exists()
    assert _leftovers(champion, "out.parquet") == []


def test_signature_errors_come_before_any_cluster(cli: Invoke, champion: Path) -> None:
    _many_rows(champion).drop(columns=["island", "sex"]).to_parquet(champion / "rows.parquet")
    start = time.perf_counter()
    # A scheduler address nobody answers: reaching it would fail differently, and later.
    result = cli(
        "predict", "rows.parquet", "out.parquet", "--cluster", f"tcp://127.0.0.1:{_free_port()}"
    )
    assert_one_line_error(result, r"missing 2 required columns: island, sex")
    assert time.perf_counter() - start < 5
    assert not (champion / "out.parquet").exists()
    assert _leftovers(champion, "out.parquet") == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_scheduler_that_does_not_answer_is_a_quick_one_line_error(
    cli: Invoke, champion: Path, tmp_path: Path
) -> None:
    feature_rows(champion).to_parquet(champion / "rows.parquet")
    start = time.perf_counter()
    result = cli(
        "predict", "rows.parquet", "out.parquet", "--cluster", f"tcp://127.0.0.1:{_free_port()}"
    )
    assert_one_line_error(result, r"cluster tcp://127\.0\.0\.1:\d+: no Dask scheduler answered")
    assert time.perf_counter() - start < 10
    assert not (champion / "out.parquet").exists()
    assert _leftovers(champion, "out.parquet") == []


@pytest.mark.parametrize(
    ("name", "cluster", "pattern"),
    [
        ("rows.parquet", "foo", r"--cluster: 'foo' is not a cluster"),
        ("rows.parquet", "local:0", r"needs at least one worker"),
        ("rows.csv", "local:2", r"rows\.csv: --cluster scores Parquet input only"),
    ],
    ids=["not-a-cluster", "no-workers", "csv-input"],
)
def test_cluster_mistakes_are_one_line_errors(
    cli: Invoke, champion: Path, name: str, cluster: str, pattern: str
) -> None:
    rows = feature_rows(champion)
    rows.to_parquet(champion / "rows.parquet")
    rows.to_csv(champion / "rows.csv", index=False)
    assert_one_line_error(cli("predict", name, "out.parquet", "--cluster", cluster), pattern)
    assert not (champion / "out.parquet").exists()


def test_workers_load_the_shipped_files_through_the_same_allowlist(champion: Path) -> None:
    loaded = registry.load_model(open_store())
    files = registry.model_files(open_store(), loaded)
    assert sorted(files) == ["MLmodel", "model.skops"]
    model, inputs = registry.load_model_files(files)
    assert inputs == loaded.inputs
    assert type(model) is type(loaded.model)
    pickled = {
        "MLmodel": files["MLmodel"].replace(
            b"serialization_format: skops", b"serialization_format: cloudpickle"
        ),
        "model.skops": files["model.skops"],
    }
    with pytest.raises(ModelLoadError, match="refusing"):
        registry.load_model_files(pickled)
    with pytest.raises(ModelLoadError, match="not a plain file name"):
        registry.load_model_files({"../MLmodel": files["MLmodel"]})
