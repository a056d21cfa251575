"""The capture writer alone: rotation, the size cap, drops when full, sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mlops.serve.capture import Capture, CaptureOptions, request_id, sampled
from mlops.serve.metrics import Metrics


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype=np.float64), "c": ["a"] * rows})


def _value(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return float(value or 0.0)


def test_rows_rotate_into_complete_files_and_the_oldest_go_beyond_max_bytes(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    options = CaptureOptions(enabled=True, path=tmp_path / "cap", rotate_rows=4, max_bytes=10**9)
    capture = Capture(options, metrics)
    capture.start()
    for i in range(10):
        capture.offer(_frame(2), np.array(["p", "q"], dtype=object), "m", "3", f"id-{i}")
    capture.close()
    files = sorted((tmp_path / "cap").glob("capture-*.parquet"))
    assert [pq.read_table(f).num_rows for f in files] == [4, 4, 4, 4, 4]
    assert _value(metrics, "mlops_capture_rows_total") == 20
    table = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert table["_request_id"].tolist() == [f"id-{i}" for i in range(10) for _ in range(2)]
    assert table["_row"].tolist() == [0, 1] * 10
    assert set(table["_model_version"]) == {"3"}
    assert table["prediction"].tolist() == ["p", "q"] * 10

    one_file = files[0].stat().st_size
    capped = CaptureOptions(
        enabled=True, path=tmp_path / "cap", rotate_rows=4, max_bytes=int(one_file * 2.5)
    )
    capture = Capture(capped, Metrics())
    capture.start()
    for i in range(2):
        capture.offer(_frame(2), np.array(["p", "q"], dtype=object), "m", "3", f"new-{i}")
    capture.close()
    left = sorted((tmp_path / "cap").glob("capture-*.parquet"))
    assert sum(f.stat().st_size for f in left) <= capped.max_bytes
    assert len(left) == 2  # the newest file and the one before it
    newest = pd.read_parquet(max(left, key=lambda f: f.stat().st_mtime_ns))
    assert newest["_request_id"].tolist() == ["new-0", "new-0", "new-1", "new-1"]


def test_rows_beyond_the_queue_bound_are_dropped_and_counted(tmp_path: Path) -> None:
    metrics = Metrics()
    capture = Capture(CaptureOptions(enabled=True, path=tmp_path, queue_rows=3), metrics)
    capture.offer(_frame(2), np.array([1, 2]), "m", "1", "early")  # before start: dropped
    capture.start()
    capture.offer(_frame(4), np.array([1, 2, 3, 4]), "m", "1", "big")  # over the bound
    capture.offer(_frame(2), np.array([1, 2]), "m", "1", "fits")
    capture.close()
    assert _value(metrics, "mlops_capture_dropped_rows_total") == 6
    assert _value(metrics, "mlops_capture_rows_total") == 2
    (kept,) = tmp_path.glob("capture-*.parquet")
    assert set(pd.read_parquet(kept)["_request_id"]) == {"fits"}


def test_sampling_is_seeded_by_the_request_id() -> None:
    ids = [f"r{i}" for i in range(2000)]
    chosen = [i for i in ids if sampled(i, 0.25)]
    assert chosen == [i for i in ids if sampled(i, 0.25)]  # reproducible
    assert 400 < len(chosen) < 600
    assert all(sampled(i, 1.0) for i in ids[:10])
    assert not any(sampled(i, 0.0) for i in ids[:10])


def test_the_request_id_comes_from_the_scope_then_the_header() -> None:
    assert request_id({"mlops.request_id": "abc", "headers": []}) == "abc"
    assert request_id({"headers": [(b"x-request-id", b"req-1")]}) == "req-1"
    generated = request_id({"headers": [(b"x-request-id", b"bad id\n")]})
    assert len(generated) == 32 and generated != "bad id\n"
