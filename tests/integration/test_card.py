"""`mlops card`, the card `mlops promote` writes, the slice gate and `mlops explain`, on a real
trained project with a real MLflow SQLite store."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner, Result

from conftest import open_store
from mlops import registry
from mlops.cli.main import app

SECTIONS = (
    "## Model details",
    "## Intended use",
    "## Out-of-scope use",
    "## Training and test data",
    "## Metrics",
    "## Promotion decision",
    "## Drift reference",
    "## Limitations",
    "## Explanations",
    "## How to load and serve",
)
WRITTEN = (
    "--set",
    "card.intended_use=Teaching, species of penguins measured in the field",
    "--set",
    "card.out_of_scope=Any decision about live animals",
)


def mlops(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_id() -> str:
    return str(json.loads(Path("models/run.json").read_text())["run_id"])


def test_card_check_fails_until_intended_use_is_written(trained_project: Path) -> None:
    result = mlops("card", "--check")
    assert result.exit_code == 3, result.output
    todos = [line for line in result.stderr.splitlines() if line.startswith("TODO ")]
    assert len(todos) == 2
    assert "card.intended_use" in todos[0] and "card.out_of_scope" in todos[1]
    card = Path("reports/model_card.md").read_text()
    assert "[More Information Needed]" not in card
    for section in SECTIONS:
        assert section in card, section
    assert "## Slices" in card and "| island |" in card.replace("  ", " ").replace("  ", " ")
    assert "bill_length_mm" in card.split("## Explanations")[1]
    # The penguins model is a tree ensemble and dev installs the shap extra: SHAP values too.
    shap_part = card.split("### SHAP values")[1]
    assert "mean abs SHAP" in shap_part and re.search(r"\| +island +\| +\d", shap_part)
    analysis = json.loads(Path("reports/model_card.json").read_text())
    assert analysis["shap"]["reason"] is None and len(analysis["shap"]["features"]) >= 4
    assert re.search(r"\| +roc_auc +\| +[01]\.\d{4} +\| +\[[01]\.\d{4}, [01]\.\d{4}\]", card)
    page = Path("reports/model_card.html").read_text()
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    assert 'src="data:image/png;base64,' in page
    assert Path("reports/model_diagram.html").is_file()
    assert "<div" not in card  # the diagram is its own file, not inline HTML

    written = mlops(*WRITTEN, "card", "--check")
    assert written.exit_code == 0, written.output
    assert "TODO" not in written.stderr
    card = Path("reports/model_card.md").read_text()
    assert "Any decision about live animals" in card and "**TODO**" not in card


def test_promote_writes_the_card_as_description_and_artifacts(trained_project: Path) -> None:
    result = mlops(*WRITTEN, "promote")
    assert result.exit_code == 0, result.output
    store = open_store()
    (info,) = registry.list_versions(store)
    described = store.client.get_model_version(info.name, info.version).description
    assert described.startswith("# Promotion decision: PROMOTED")
    assert f"# Model card: {info.name} v{info.version}" in described
    for section in ("## Metrics", "## Limitations", "## Explanations", "## Intended use"):
        assert section in described, section
    assert "Teaching, species of penguins" in described
    assert len(described) <= 5000
    names = {Path(a.path).name for a in store.client.list_artifacts(run_id(), "card")}
    expected = {"model_card.md", "model_card.html", "model_diagram.html", "importance.png"}
    assert expected <= names
    logged = store.client.get_run(run_id()).data.metrics
    assert logged["card.importance.bill_length_mm"] > 0
    assert logged["card.shap.bill_length_mm"] > 0
    assert logged["card.roc_auc_ci_low"] <= logged["card.roc_auc_ci_high"]
    card = Path("reports/model_card.md").read_text()
    assert "verdict: **promoted**" in card and "### Gates" in card
    record = json.loads(Path("reports/promotion.json").read_text())
    assert "card_analysis_s" in record["timings"]

    # The card of the registered version, by alias, reads the same decision.
    again = mlops(*WRITTEN, "card", "@champion", "--check")
    assert again.exit_code == 0, again.output
    assert f"v{info.version}" in Path("reports/model_card.md").read_text().splitlines()[0]


def test_slice_gap_gate_refuses_promotion(trained_project: Path) -> None:
    result = mlops(
        "--set", "card.sensitive=[island]", "--set", "gate.slices.max_gap=0.0001", "promote"
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    record = json.loads(Path("reports/promotion.json").read_text())
    assert record["verdict"] == "rejected"
    (gate,) = [g for g in record["gates"] if g["name"].startswith("slice gap of island")]
    assert not gate["passed"] and gate["value"] > 0.0001
    assert "slice gap of island" in record["message"]


def test_sensitive_column_must_exist(trained_project: Path) -> None:
    result = mlops("--set", "card.sensitive=[no_such_column]", "card")
    assert result.exit_code == 1
    assert "card.sensitive: column 'no_such_column'" in result.stderr


def test_explain_prints_top_contributions(trained_project: Path) -> None:
    uri = json.loads(Path("models/run.json").read_text())["model_uri"]
    test = "data/processed/test.parquet"
    table = mlops("explain", test, "--model", uri, "--rows", "3", "--top", "2")
    assert table.exit_code == 0, table.output
    assert "bill_length_mm" in table.stdout and "occlusion" in table.stdout
    as_json = mlops("explain", test, "--model", uri, "--rows", "3", "--top", "2", "--json")
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert len(payload["rows"]) == 3 and all(len(r["top"]) == 2 for r in payload["rows"])
    assert 0.0 <= payload["rows"][0]["score"] <= 1.0

    Path("bad.csv").write_text("island,sex\nDream,male\n")
    bad = mlops("explain", "bad.csv", "--model", uri)
    assert bad.exit_code == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing" in lines[0]


def test_card_shows_the_time_range_of_each_split_with_order_by(trained_project: Path) -> None:
    result = mlops("--set", "split.order_by=year", "card")
    assert result.exit_code == 0, result.output
    data = Path("reports/model_card.md").read_text().split("## Training and test data")[1]
    header = next(line for line in data.splitlines() if line.startswith("|") and "split" in line)
    assert "time range" in header
    assert re.search(r"\| +train +\|.*\| +20\d\d \.\. 20\d\d +\|", data), data[:1500]
    assert re.search(r"\| +test +\|.*\| +20\d\d \.\. 20\d\d +\|", data)
