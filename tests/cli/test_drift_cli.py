"""`mlops drift` through the CLI: exit codes 0/1/3, --no-fail, reports, --json -, defaults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .conftest import Invoke
from .helpers import assert_one_line_error, run_mlops

ROWS = 400


def _write(path: Path, shift: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "a": rng.normal(shift, 1.0, ROWS),
            "b": rng.normal(shift, 1.0, ROWS),
            "c": rng.choice(["x", "y", "z"], ROWS),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        table.to_pandas().to_csv(path, index=False)
    else:
        pq.write_table(table, path)
    return path


def test_no_drift_exits_0_and_writes_both_reports(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", 0.0, 1)
    _write(project / "cur.csv", 0.0, 2)
    result = cli("drift", "--reference", "ref.parquet", "--current", "cur.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("no drift: 0 of 3 columns drifted")
    for name in ("a", "b", "c", "verdict", "method", "p (adj.)"):
        assert name in result.stdout
    report = json.loads((project / "reports" / "drift.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "no_drift"
    summary = report["summary"]
    assert summary["drift"] is False and summary["tested"] == 3
    assert all(isinstance(v, int | float | bool) or v is None for v in summary.values())
    assert (
        (project / "reports" / "drift.html")
        .read_text(encoding="utf-8")
        .startswith("<!DOCTYPE html>")
    )
    reports = project / "reports"
    assert f"reports -> {reports / 'drift.json'}, {reports / 'drift.html'}" in result.stderr


def test_drift_exits_3_unless_no_fail(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", 0.0, 1)
    _write(project / "cur.parquet", 1.0, 2)
    args = ["drift", "--reference", "ref.parquet", "--current", "cur.parquet"]
    failed = cli(*args, "--json", "out/d.json", "--html", "out/d.html")
    assert failed.exit_code == 3, failed.output
    assert failed.stdout.splitlines()[-1] == "drift: 2 of 3 columns drifted (67% >= share 50%)"
    assert json.loads((project / "out" / "d.json").read_text(encoding="utf-8"))["summary"]["drift"]
    assert (project / "out" / "d.html").is_file()
    assert cli(*args, "--no-fail").exit_code == 0
    assert cli("--set", "drift.share=0.9", *args).exit_code == 0


def test_json_dash_prints_the_report(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", 0.0, 1)
    _write(project / "cur.parquet", 0.0, 2)
    result = cli("drift", "--reference", "ref.parquet", "--current", "cur.parquet", "--json", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["columns"] == 3  # stdout is only the JSON
    assert "no drift: 0 of 3 columns drifted" in result.stderr
    assert (project / "reports" / "drift.json").is_file()


def test_current_defaults_to_params_and_reference_to_the_train_split(
    project: Path, cli: Invoke
) -> None:
    _write(project / "data" / "processed" / "train.parquet", 0.0, 1)
    _write(project / "data" / "processed" / "test.parquet", 0.0, 2)
    result = cli("drift")
    assert result.exit_code == 0, result.output
    report = json.loads((project / "reports" / "drift.json").read_text(encoding="utf-8"))
    # Root-relative: reports are committed, so no machine-specific paths.
    assert report["reference"]["path"] == "data/processed/train.parquet"
    assert report["reference"]["origin"] == "fallback"
    assert "no tracking store" in report["reference"]["origin_reason"]
    assert report["current"]["path"] == "data/processed/test.parquet"
    assert report["prediction"] == [] and "not tested" in report["prediction_note"]
    assert not (project / "mlflow.db").exists()  # looking for a champion created no store


def test_bad_inputs_are_one_line_errors(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", 0.0, 1)
    (project / "junk.parquet").write_bytes(b"PAR1 but not really")
    pq.write_table(pa.table({"other": [1.0, 2.0]}), project / "other.parquet")
    assert_one_line_error(
        cli("drift", "--reference", "ref.parquet", "--current", "junk.parquet"),
        r"junk\.parquet: cannot read parquet file",
    )
    assert_one_line_error(
        cli("drift", "--reference", "ref.parquet", "--current", "other.parquet"),
        r"no common columns between ref\.parquet \(a, b, c\) and other\.parquet \(other\)",
    )
    assert_one_line_error(
        cli("drift", "--reference", "ref.parquet", "--current", "absent.csv"),
        r"absent\.csv: file not found",
    )
    assert_one_line_error(cli("drift"), r"train\.parquet: reference data not found")
    assert not (project / "reports" / "drift.json").exists()


def test_a_dtype_mismatch_is_a_verdict_not_an_error(project: Path, cli: Invoke) -> None:
    _write(project / "ref.parquet", 0.0, 1)
    table = pq.read_table(project / "ref.parquet")
    table = table.set_column(0, "a", pa.array([f"v{i % 3}" for i in range(ROWS)]))
    pq.write_table(table, project / "cur.parquet")
    result = cli("drift", "--reference", "ref.parquet", "--current", "cur.parquet")
    assert result.exit_code == 0, result.output
    assert "schema_mismatch" in result.stdout
    report = json.loads((project / "reports" / "drift.json").read_text(encoding="utf-8"))
    assert report["summary"]["schema_mismatch"] == 1


def test_drift_help_lists_the_options(cli: Invoke) -> None:
    result = cli("drift", "--help")
    assert result.exit_code == 0
    for option in ("--reference", "--current", "--json", "--html", "--fail", "--no-fail"):
        assert option in result.stdout


def test_a_missing_batch_is_one_line_on_stderr_of_the_real_process(project: Path) -> None:
    """The real process logs at INFO: the reference line logged before the batch was opened
    made a failed drift two lines (the summary names the reference anyway)."""
    _write(project / "ref.parquet", 0.0, 1)
    result = run_mlops(
        "drift", "--reference", "ref.parquet", "--current", "absent.csv", cwd=project
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == ["error: absent.csv: file not found"]


def test_a_report_option_does_not_swallow_the_next_option(project: Path, cli: Invoke) -> None:
    """`--json` is a flag on the other commands: `mlops drift --json --no-fail` wrote the
    report to a file named `--no-fail` and kept exit 3 on drift."""
    _write(project / "ref.parquet", 0.0, 1)
    _write(project / "cur.parquet", 1.0, 2)
    args = ["drift", "--reference", "ref.parquet", "--current", "cur.parquet"]
    for option in ("--json", "--html"):
        result = cli(*args, option, "--no-fail")
        assert result.exit_code == 2, result.output
        assert "is an option, not a path" in result.stderr
        assert not (project / "--no-fail").exists()
    assert not (project / "reports" / "drift.json").exists()
