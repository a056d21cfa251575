"""Artifacts: atomic writes, JSON, hashing, tables and their one-line errors, skops models."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlops import artifacts
from mlops.errors import DataError, ModelLoadError


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- atomic writes


def test_atomic_path_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "out.txt"
    with artifacts.atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp != target
        tmp.write_text("done", encoding="utf-8")
        assert not target.exists()  # nothing visible until the block succeeds
    assert target.read_text(encoding="utf-8") == "done"
    assert _leftovers(target.parent) == []


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failed_write_leaves_no_temp_file_and_keeps_the_old_target(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(type(error)), artifacts.atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise error
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_failed_first_write_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model.skops"
    with pytest.raises(ValueError, match="boom"), artifacts.atomic_path(target):
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_table_with_unsupported_suffix_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"out\.xlsx: unsupported output type '\.xlsx'"):
        artifacts.write_table(tmp_path / "out.xlsx", pd.DataFrame({"a": [1]}))
    assert list(tmp_path.iterdir()) == []


def test_json_round_trip_with_numpy_and_paths(tmp_path: Path) -> None:
    target = artifacts.write_json(
        tmp_path / "m.json", {"n": np.int64(3), "x": np.float64(0.5), "p": Path("a/b")}
    )
    assert artifacts.read_json(target) == {"n": 3, "x": 0.5, "p": "a/b"}
    assert target.read_text(encoding="utf-8").endswith("\n")


def test_to_json_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        artifacts.to_json({"x": object()})


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.json: file not found"):
        artifacts.read_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON"):
        artifacts.read_json(bad)


def test_file_md5_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    path = artifacts.write_bytes(tmp_path / "blob.bin", data)
    assert artifacts.file_md5(path) == hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- tables


def test_table_round_trip_csv_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": [0.5, np.nan]})
    for name in ("t.csv", "t.parquet", "t.pq"):
        written = artifacts.write_table(tmp_path / name, frame)
        back = artifacts.read_table(written)
        assert back["a"].tolist() == [1, 2]
        assert back["b"].isna().tolist() == [False, True]
        assert back["c"].isna().tolist() == [False, True]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, r"missing\.csv: file not found"),
        ("empty.csv", b"", r"empty\.csv: file is empty"),
        ("blank.csv", b"\n\n", r"blank\.csv: file is empty"),
        ("header.csv", b"a,b,species\n", r"header\.csv: no data rows \(header only\)"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", r"ragged\.csv: cannot parse CSV \(.*fields"),
        ("quote.csv", b'a,b\n1,"2\n', r"quote\.csv: cannot parse CSV \(.*EOF inside string"),
        ("latin1.csv", b"a,b\n1,caf\xe9\n", r"latin1\.csv: not UTF-8 text"),
        ("data.xlsx", b"PK\x03\x04", r"data\.xlsx: unsupported file type '\.xlsx'"),
        ("corrupt.parquet", b"PAR1 not really", r"corrupt\.parquet: cannot read parquet file"),
    ],
)
def test_read_table_errors_are_one_line(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        artifacts.read_table(path)
    assert "\n" not in str(caught.value)


def test_read_table_on_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match=r"d\.csv: is a directory"):
        artifacts.read_table(tmp_path / "d.csv")


# --------------------------------------------------------------------------- models


def _model() -> LogisticRegression:
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_model_round_trip_through_skops(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    types = artifacts.save_model(path, _model())
    assert set(types) <= artifacts.TRUSTED_MODEL_TYPES
    loaded = artifacts.load_model(path)
    assert loaded.predict([[0.0], [3.0]]).tolist() == [0, 1]
    assert _leftovers(tmp_path) == []


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model file not found"):
        artifacts.load_model(tmp_path / "none.skops")
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"definitely not a zip")
    with pytest.raises(ModelLoadError, match=r"junk\.skops: not a skops model file"):
        artifacts.load_model(junk)


def test_types_outside_the_allowlist_are_refused() -> None:
    with pytest.raises(ModelLoadError, match=r"outside the trusted allowlist: os\.system"):
        artifacts.check_trusted(["numpy.dtype", "os.system"], "model.skops")
    artifacts.check_trusted(["numpy.dtype"], "model.skops")  # allowed: no error


def test_atomic_writes_get_the_usual_file_mode(tmp_path: Path) -> None:
    import os

    from mlops import artifacts

    mask = os.umask(0o022)
    try:
        written = artifacts.write_text(tmp_path / "report.json", "{}")
    finally:
        os.umask(mask)
    assert written.stat().st_mode & 0o777 == 0o644


def test_parquet_decimals_are_read_as_floats(tmp_path: Path) -> None:
    """A decimal column came to pandas as `Decimal` objects: the schema took it for a
    categorical and training failed."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops.artifacts import read_table

    prices = [decimal.Decimal("1.25") + i for i in range(6)]
    table = pa.table({"price": pa.array(prices, type=pa.decimal128(10, 2)), "n": range(6)})
    pq.write_table(table, tmp_path / "d.parquet")
    frame = read_table(tmp_path / "d.parquet")
    assert str(frame["price"].dtype) == "float64" and frame["price"].iloc[1] == 2.25
    assert str(frame["n"].dtype) == "int64"
