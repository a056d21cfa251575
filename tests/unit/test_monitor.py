"""Pure parts of `mlops monitor`: durations, reading capture files, the textfile, label joins."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlops.errors import ConfigError, DataError
from mlops.monitor import GAUGES, parse_duration, read_capture, write_textfile
from mlops.monitor._live import join_labels


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1h", 3600), ("2d", 172800), ("1h30m", 5400), ("45s", 45), ("1w", 604800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "h1", "1h nope"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--since"):
        parse_duration(text)


def _capture(directory: Path, name: str, start: datetime, rows: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "x": range(rows),
            "prediction": ["a"] * rows,
            "_timestamp": pd.to_datetime(
                [start + timedelta(minutes=i) for i in range(rows)], utc=True
            ),
            "_request_id": [f"{name}-{i}" for i in range(rows)],
        }
    )
    frame.to_parquet(directory / f"capture-{name}.parquet")


def test_read_capture_filters_by_time_then_keeps_the_last_rows(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    _capture(tmp_path, "old", now - timedelta(hours=5), 10)
    _capture(tmp_path, "new", now - timedelta(minutes=20), 10)
    (tmp_path / ".capture-half.parquet.123.tmp").write_bytes(b"PAR1")  # never read
    table, files = read_capture(tmp_path)
    assert (table.num_rows, files) == (20, 2)
    assert table.column("_request_id")[0].as_py() == "old-0"  # oldest first
    recent, _ = read_capture(tmp_path, since=timedelta(minutes=30), now=now)
    assert recent.num_rows == 10
    last, _ = read_capture(tmp_path, since=timedelta(minutes=30), window=3, now=now)
    assert last.column("_request_id").to_pylist() == ["new-7", "new-8", "new-9"]
    with pytest.raises(DataError, match="no captured traffic in the last"):
        read_capture(tmp_path, since=timedelta(minutes=1), now=now)


def test_no_capture_files_is_a_one_line_error_naming_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'capture'}: no captured traffic")):
        read_capture(tmp_path / "capture")


def test_textfile_holds_the_gauges_given(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float | None] = dict.fromkeys(GAUGES, 1.0)
    values["mlops_monitor_live_gate_passed"] = None  # no labels: left out
    path = write_textfile(tmp_path / "m" / "monitor.prom", values)
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert set(families) == set(GAUGES) - {"mlops_monitor_live_gate_passed"}
    assert all(f.type == "gauge" for f in families.values())
    assert [p.name for p in path.parent.iterdir()] == ["monitor.prom"]  # no temp left


def test_labels_join_on_request_and_row(tmp_path: Path) -> None:
    captured = pd.DataFrame(
        {"_request_id": ["a", "a", "b"], "_row": [0, 1, 0], "prediction": ["x", "y", "x"]}
    )
    labels = pd.DataFrame({"request_id": ["a", "b", "a"], "row": [1, 0, 0], "y": ["y", "z", "x"]})
    joined, how = join_labels(captured, labels, tmp_path / "l.csv", "y", None)
    assert how == "request_id + row"
    assert joined.sort_values(["_request_id", "_row"])["_label"].tolist() == ["x", "y", "z"]
    with pytest.raises(DataError, match="add a 'row' column"):
        join_labels(captured, labels.drop(columns="row"), tmp_path / "l.csv", "y", None)
    with pytest.raises(DataError, match="no label joins"):
        join_labels(
            captured, labels.assign(request_id=["p", "q", "r"]), tmp_path / "l.csv", "y", None
        )
    with pytest.raises(DataError, match="no label column"):
        join_labels(captured, labels, tmp_path / "l.csv", "species", None)


def test_since_skips_server_files_closed_before_the_cutoff_unread(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    _capture(tmp_path, "new", now - timedelta(minutes=20), 5)
    (tmp_path / "capture-20260101T080000-123-000001.parquet").write_bytes(b"not parquet")
    table, files = read_capture(tmp_path, since=timedelta(hours=1), now=now)
    assert (table.num_rows, files) == (5, 2)  # the old, unreadable file was never opened
    with pytest.raises(DataError, match="cannot read capture file"):
        read_capture(tmp_path, now=now)
