"""`mlops data scan PATH`: the classification table, `--json`, and exit 3 on undecided PII."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from .conftest import Invoke


def people(path: Path, rows: int = 120) -> Path:
    pd.DataFrame(
        {
            "email": [f"person{i}@example.com" for i in range(rows)],
            "phone": [f"+33 1 23 45 {i % 100:02d} {i // 100:02d}" for i in range(rows)],
            "score": range(rows),
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is no project (whatever lies above the temp dir)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mlops.project.find_root", lambda start=None: None)
    return tmp_path


def test_scan_outside_a_project_flags_everything_undecided(cli: Invoke, outside: Path) -> None:
    result = cli("data", "scan", str(people(outside / "people.csv")))
    assert result.exit_code == 3, result.output
    assert "email" in result.stdout and "phone" in result.stdout and "undecided" in result.stdout
    assert "score" not in result.stdout
    assert "person0@example.com" not in result.output  # evidence, never values


def test_scan_json_and_a_clean_file(cli: Invoke, outside: Path) -> None:
    result = cli("data", "scan", str(people(outside / "people.csv")), "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["undecided"] == ["email", "phone"]
    assert [c["kind"] for c in report["columns"]] == ["email", "phone"]
    clean = outside / "clean.csv"
    pd.DataFrame({"x": range(60), "colour": ["red", "blue"] * 30}).to_csv(clean, index=False)
    done = cli("data", "scan", str(clean))
    assert done.exit_code == 0 and "no personal data" in done.output


def test_scan_in_a_project_uses_its_decisions(cli: Invoke, project: Path) -> None:
    source = people(project / "people.csv")
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(text.replace("pii: {}", "pii: {email: hash}", 1))
    pending = cli("data", "scan", str(source), "--json")
    assert pending.exit_code == 3 and json.loads(pending.stdout)["undecided"] == ["phone"]
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(
        text.replace("pii: {email: hash}", "pii: {email: hash, phone: drop}", 1)
    )
    done = cli("data", "scan", str(source))
    assert done.exit_code == 0, done.output
    assert "all decided" in done.output
