"""The spine commands end to end through the CLI: outputs, reports and exit codes 0 and 3."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .conftest import Invoke
from .helpers import run_mlops


def test_data_commands_on_a_fresh_project(project: Path, cli: Invoke) -> None:
    ingest = cli("data", "ingest")
    assert ingest.exit_code == 0, ingest.output
    assert ingest.stdout.startswith("ingested 344 rows x 8 columns from builtin:penguins")
    assert (project / "data" / "raw" / "dataset.parquet").is_file()
    schema = json.loads((project / "data" / "schema.json").read_text(encoding="utf-8"))
    assert schema["target"] == "species"

    validate = cli("data", "validate")
    assert validate.exit_code == 0, validate.output
    assert validate.stdout == "validation passed (344 rows, 8 columns)\n"
    report = json.loads((project / "reports" / "validation.json").read_text(encoding="utf-8"))
    assert report["passed"] is True

    split = cli("data", "split")
    assert split.exit_code == 0, split.output
    assert re.fullmatch(
        r"split: 275 train rows -> \S+train\.parquet, 69 test rows -> \S+test\.parquet\n",
        split.stdout,
    )
    assert len(pd.read_parquet(project / "data" / "processed" / "test.parquet")) == 69


def test_set_override_reaches_the_stage(project: Path, cli: Invoke) -> None:
    assert cli("data", "ingest").exit_code == 0
    result = cli("--set", "split.test_size=0.5", "data", "split")
    assert result.exit_code == 0
    assert result.stdout.startswith("split: 172 train rows")


def test_validate_a_bad_file_exits_3_and_writes_the_report(
    trained_project: Path, cli: Invoke
) -> None:
    frame = pd.read_parquet(trained_project / "data" / "raw" / "dataset.parquet").head(20)
    frame.loc[0, "island"] = "Atlantis"
    frame.loc[1, "bill_length_mm"] = 500.0
    frame = frame.drop(columns=["year"])
    frame.to_csv(trained_project / "new.csv", index=False)

    result = cli("data", "validate", "new.csv")
    assert result.exit_code == 3, result.output
    assert (
        result.stdout.splitlines()[-1] == "validation FAILED: 3 violation(s) (20 rows, 8 columns)"
    )
    for text in ("'Atlantis'", "missing_column", "range", "unseen_category", "[32.1, 59.6]"):
        assert text in result.stdout
    report = json.loads((trained_project / "reports" / "validation.json").read_text())
    assert report["passed"] is False
    assert sorted(v["check"] for v in report["violations"]) == [
        "missing_column",
        "range",
        "unseen_category",
    ]

    as_json = cli("data", "validate", "new.csv", "--json")
    assert as_json.exit_code == 3
    payload = json.loads(as_json.stdout)  # stdout is only the JSON document
    assert payload["passed"] is False
    assert len(payload["violations"]) == 3
    assert as_json.stderr.startswith("validation FAILED: 3 violation(s)")


def test_train_prints_the_run_id(trained_project: Path, cli: Invoke) -> None:
    before = json.loads((trained_project / "models" / "run.json").read_text())
    result = cli("--set", "model.params.max_iter=20", "train")
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    assert "fit in" in result.stderr
    after = json.loads((trained_project / "models" / "run.json").read_text())
    assert after["run_id"] == run_id != before["run_id"]


def test_eval_passes_the_gate(trained_project: Path, cli: Invoke) -> None:
    result = cli("eval")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "gate passed"
    assert "accuracy" in result.stdout
    gate = json.loads((trained_project / "reports" / "gate.json").read_text())
    assert gate["passed"] is True


def test_eval_json_output(trained_project: Path, cli: Invoke) -> None:
    result = cli("eval", "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)  # stdout is only the JSON document
    assert result.stderr.splitlines()[-1] == "gate passed"
    assert set(payload) == {"run_id", "metrics", "gate"}
    assert payload["metrics"]["accuracy"] > 0.9
    assert payload["gate"]["passed"] is True


def test_impossible_gate_exits_3_and_no_gate_reports_only(
    trained_project: Path, cli: Invoke
) -> None:
    impossible = ("--set", "gate.metrics.accuracy.min=1.01")
    failed = cli(*impossible, "eval")
    assert failed.exit_code == 3, failed.output
    assert failed.stdout.splitlines()[-1].startswith("gate FAILED: accuracy=")
    assert "(needs >= 1.01)" in failed.stdout
    gate = json.loads((trained_project / "reports" / "gate.json").read_text())
    assert gate["passed"] is False
    assert (trained_project / "reports" / "metrics.json").is_file()

    reported = cli(*impossible, "eval", "--no-gate")
    assert reported.exit_code == 0, reported.output
    assert reported.stdout.splitlines()[-1].startswith("gate FAILED")


def test_exit_codes_of_the_real_process(trained_project: Path) -> None:
    """0, 1, 2 and 3 from the installed console script."""
    frame = pd.read_parquet(trained_project / "data" / "raw" / "dataset.parquet").head(5)
    frame.assign(island="Atlantis").to_csv(trained_project / "new.csv", index=False)
    codes = {
        "ok": run_mlops("data", "validate", cwd=trained_project).returncode,
        "error": run_mlops("data", "validate", "none.csv", cwd=trained_project).returncode,
        "usage": run_mlops("data", "validate", "--bogus", cwd=trained_project).returncode,
        "check": run_mlops("data", "validate", "new.csv", cwd=trained_project).returncode,
    }
    assert codes == {"ok": 0, "error": 1, "usage": 2, "check": 3}
