"""Verdicts a CI gate can trust (issue 14): a broken batch never passes `mlops drift`.

Real files and the real command; each case failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .conftest import Invoke

ROWS = 400


def _columns(seed: int, rows: int = ROWS) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(0.0, 1.0, rows),
        "b": rng.normal(0.0, 1.0, rows),
        "wage": rng.lognormal(2.0, 0.5, rows),
        "c": rng.choice(["x", "y", "z"], rows),
    }


def _write(path: Path, columns: dict[str, Any]) -> Path:
    table = pa.table(columns)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def _report(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (project / "reports" / "drift.json").read_text(encoding="utf-8")
    )
    return data


def _drift(cli: Invoke, *extra: str, current: str = "cur.parquet") -> Any:
    """`mlops [--set ...] drift --reference ref.parquet --current <current> [--no-fail]`."""
    sets = [e for e in extra if e != "--no-fail"]
    flags = [e for e in extra if e == "--no-fail"]
    return cli(*sets, "drift", "--reference", "ref.parquet", "--current", current, *flags)


def test_a_column_that_becomes_all_missing_is_drifted_and_fails_when_critical(
    project: Path, cli: Invoke
) -> None:
    _write(project / "ref.parquet", _columns(1))
    current = _columns(2)
    current["wage"] = pa.nulls(ROWS, pa.float64())
    _write(project / "cur.parquet", current)
    # The same batch as CSV: the empty column reads as Arrow's null type.
    empty_csv = "a,b,wage,c\n" + "".join(
        f"{a},{b},,{c}\n" for a, b, c in zip(current["a"], current["b"], current["c"], strict=True)
    )
    (project / "cur.csv").write_text(empty_csv, encoding="utf-8")

    critical = _drift(cli, "--set", "drift.critical=[wage]")
    assert critical.exit_code == 3, critical.output
    report = _report(project)
    wage = next(c for c in report["columns"] if c["column"] == "wage")
    assert wage["verdict"] == "drift" and wage["all_missing"] is True
    assert report["columns"][0]["column"] == "wage"  # the most urgent column comes first
    assert report["summary"]["drifted"] == 1 and report["summary"]["all_missing"] == 1
    assert any("'wage': all values missing" in r for r in report["reasons"])

    for current_file in ("cur.parquet", "cur.csv"):
        plain = _drift(cli, current=current_file)  # 1 of 4 drifted: under the 50% share
        assert plain.exit_code == 0, plain.output
        assert _report(project)["summary"]["drifted"] == 1
        assert _drift(cli, "--set", "drift.share=0.25", current=current_file).exit_code == 3


def test_a_missing_rate_shift_of_a_critical_column_fails(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", _columns(1))
    current = _columns(2)
    wage = current["wage"].copy()
    wage[: ROWS // 4] = np.nan  # same law, a quarter of the values lost
    current["wage"] = pa.array(wage, from_pandas=True)
    _write(project / "cur.parquet", current)
    assert _drift(cli).exit_code == 0  # not critical: flagged, not failed
    assert _report(project)["summary"]["missing_shift"] == 1
    failed = _drift(cli, "--set", "drift.critical=[wage]")
    assert failed.exit_code == 3, failed.output
    assert _report(project)["reasons"] == ["critical column 'wage': missing rate 0.0% -> 25.0%"]


def test_a_header_only_or_tiny_batch_fails_by_default(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", _columns(1))
    (project / "header.csv").write_text("a,b,wage,c\n", encoding="utf-8")
    _write(project / "tiny.parquet", _columns(2, rows=10))
    for current in ("header.csv", "tiny.parquet"):
        result = _drift(cli, current=current)
        assert result.exit_code == 3, result.output
        assert result.stdout.splitlines()[-1].startswith("insufficient data: no column had")
        report = _report(project)
        assert report["verdict"] == "insufficient_data"
        assert report["summary"]["failed"] is True and report["summary"]["drift"] is False
        metrics = json.loads((project / "reports" / "drift_summary.json").read_text("utf-8"))
        assert metrics["failed"] is True  # what `dvc metrics show` lists
        allowed = _drift(cli, "--set", "drift.fail_on_insufficient=false", current=current)
        assert allowed.exit_code == 0, allowed.output
        assert _report(project)["summary"]["failed"] is False
        assert _drift(cli, "--no-fail", current=current).exit_code == 0


def test_type_changes_count_toward_the_drifted_share(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", _columns(1))
    current = _columns(2)
    current["a"] = [f"{v:.3f}" for v in current["a"]]  # numbers arrive as text
    current["b"] = [f"{v:.3f}" for v in current["b"]]
    _write(project / "cur.parquet", current)
    result = _drift(cli)
    assert result.exit_code == 3, result.output
    summary = _report(project)["summary"]
    assert (summary["drifted"], summary["tested"], summary["schema_mismatch"]) == (2, 4, 2)
    assert "2 of 4 columns drifted, 2 by schema mismatch (50% >= share 50%)" in result.stdout


def test_vanished_categories_are_reported(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", _columns(1))
    current = _columns(2)
    current["c"] = np.where(current["c"] == "z", "x", current["c"])  # "z" is gone
    _write(project / "cur.parquet", current)
    result = _drift(cli, "--no-fail")
    assert "1 vanished: z" in result.stdout
    c = next(col for col in _report(project)["columns"] if col["column"] == "c")
    assert c["vanished_categories"] == ["z"] and c["vanished_count"] == 1
    assert 0.2 < c["vanished_share"] < 0.45 and c["unseen_count"] == 0
    assert _report(project)["summary"]["vanished_categories"] == 1
    page = (project / "reports" / "drift.html").read_text(encoding="utf-8")
    assert "1 vanished category" in page and "z</text>" in page


def test_numeric_identifiers_are_never_compared(project: Path, cli: Invoke) -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, ROWS)
    ref = {"a": a, "row": np.arange(1, ROWS + 1)}
    # A later batch continues the numbering; a shuffled sample of a row number is one too.
    cur = {"a": a[::-1], "row": np.arange(ROWS + 1, 2 * ROWS + 1)}
    sample = {"a": ref["a"][:300], "row": rng.permutation(np.arange(1000, 1400))[:300]}
    _write(project / "ref.parquet", ref)
    _write(project / "cur.parquet", cur)
    _write(project / "sample.parquet", sample)
    for reference in ("ref.parquet", "sample.parquet"):
        result = cli("drift", "--reference", reference, "--current", "cur.parquet")
        assert result.exit_code == 0, result.output
        report = _report(project)
        assert [c["column"] for c in report["columns"]] == ["a"]
        ignored = {i["column"]: i["reason"] for i in report["ignored"]}
        assert ignored["row"].startswith("identifier column (")
    # An integer measurement is still compared.
    counts = {"a": ref["a"], "row": rng.integers(0, 50, ROWS)}
    _write(project / "counts.parquet", counts)
    assert (
        cli("drift", "--reference", "counts.parquet", "--current", "counts.parquet").exit_code == 0
    )
    assert {c["column"] for c in _report(project)["columns"]} == {"a", "row"}


def test_excluded_and_dropped_columns_are_never_compared_or_counted(
    project: Path, cli: Invoke
) -> None:
    _write(project / "ref.parquet", _columns(1))
    current = _columns(2)
    current["a"] = current["a"] + 3.0
    current["b"] = current["b"] + 3.0
    _write(project / "cur.parquet", current)
    assert _drift(cli).exit_code == 3  # 2 of 4 drifted
    for option in ("drift.exclude", "data.drop"):
        result = _drift(cli, "--set", f"{option}=[a, b]", "--set", "drift.critical=[wage]")
        assert result.exit_code == 0, result.output
        report = _report(project)
        assert {c["column"] for c in report["columns"]} == {"wage", "c"}
        assert report["summary"]["tested"] == 2 and report["summary"]["drifted"] == 0
        assert {i["column"] for i in report["ignored"]} == {"a", "b"}
        assert "a" not in {row.split()[0] for row in result.stdout.splitlines() if row.strip()}
