"""`mlops promote|rollback|models` through the CLI: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import open_project, open_store

from .helpers import exits, mlops, one_line_error

MODEL = "penguins-classifier"  # configs/local.yaml of the example project
WEAK = ("model.params.max_iter=3",)


def registry_state() -> list[tuple[str, tuple[str, ...]]]:
    from mlops import registry

    return [(v.version, v.aliases) for v in registry.list_versions(open_store())]


def train(*overrides: str) -> str:
    from mlops.train import run_training

    return run_training(open_project(None, *overrides), open_store(None, *overrides)).run_id


@pytest.fixture
def original_run(trained_project: Path) -> str:
    return str(json.loads(Path("models/run.json").read_text())["run_id"])


@pytest.fixture
def two_versions(original_run: str) -> dict[str, str]:
    """v1: a weaker model (now `previous`); v2: the template's run (now `champion`)."""
    weak = train(*WEAK)
    exits(mlops("promote", "--run-id", weak), 0)
    exits(mlops("promote", "--run-id", original_run), 0)
    assert registry_state() == [("2", ("champion",)), ("1", ("previous",))]
    return {"1": weak, "2": original_run}


# --------------------------------------------------------------------------- usage


def test_force_without_reason_is_a_usage_error(original_run: str) -> None:
    for args in (("--force",), ("--force", "--reason", "  ")):
        result = exits(mlops("promote", *args), 2)
        assert "--force needs --reason" in result.output
    assert registry_state() == []
    assert not Path("reports/promotion.json").exists()


def test_promote_json_prints_the_decision_record(original_run: str) -> None:
    result = exits(mlops("promote", "--json"), 0)
    payload = json.loads(result.stdout)  # stdout carries only the JSON (pipeable to jq)
    assert payload == json.loads(Path("reports/promotion.json").read_text())
    assert payload["candidate"]["run_id"] == original_run and payload["verdict"] == "promoted"
    assert result.stderr.strip().splitlines()[-1].startswith("promoted v1")


# --------------------------------------------------------------------------- models list/show


def test_models_list_json(two_versions: dict[str, str]) -> None:
    store = open_store()
    before = datetime.now(UTC)
    payload = json.loads(exits(mlops("models", "list", "--json"), 0).stdout)

    assert payload["model"] == MODEL
    rows = payload["versions"]
    assert [(r["version"], r["aliases"], r["run_id"]) for r in rows] == [
        ("2", ["champion"], two_versions["2"]),
        ("1", ["previous"], two_versions["1"]),
    ]
    for row in rows:
        run = store.run_summary(row["run_id"])
        assert row["git_commit"] == run["lineage"]["mlops.git_commit"]
        assert row["verdict"] == "promoted"
        created = datetime.fromisoformat(row["created"])
        assert abs((before - created).total_seconds()) < 600
    # the primary metric as re-scored at promotion: the same as `mlops eval` on the test split
    evaluated = store.run_summary(two_versions["2"])["metrics"]["test_roc_auc"]
    assert float(rows[0]["roc_auc"]) == pytest.approx(evaluated, rel=1e-5)
    assert float(rows[0]["roc_auc"]) > float(rows[1]["roc_auc"])

    table = exits(mlops("models", "list"), 0).stdout  # rich may shorten long cells
    assert "champion" in table and "previous" in table and MODEL in table
    # At 80 columns the ids and the time are readable, not cut to `2026-12-…` / `4ea2cc94…`.
    assert "…" not in table
    for row in rows:
        assert row["run_id"][:8] in table and row["git_commit"][:7] in table
        assert row["created"][:10] in table


def test_models_show_by_alias_and_version(two_versions: dict[str, str]) -> None:
    shown: dict[str, Any] = json.loads(
        exits(mlops("models", "show", "@champion", "--json"), 0).stdout
    )
    assert shown["name"] == MODEL and shown["version"] == "2"
    assert shown["aliases"] == ["champion"] and shown["status"] == "READY"
    assert shown["run_id"] == two_versions["2"] and shown["run"]["run_id"] == two_versions["2"]
    assert shown["tags"]["mlops.run_id"] == two_versions["2"]
    assert shown["tags"]["mlops.verdict"] == "promoted"
    assert "test_roc_auc" in shown["run"]["metrics"]
    assert shown["run"]["lineage"]["mlops.params_sha256"] == shown["tags"]["mlops.params_sha256"]

    by_number = json.loads(exits(mlops("models", "show", "v1", "--json"), 0).stdout)
    assert by_number["version"] == "1" and by_number["aliases"] == ["previous"]
    assert by_number["run_id"] == two_versions["1"]
    assert "mlops.metric.roc_auc" in exits(mlops("models", "show", "1"), 0).stdout


# --------------------------------------------------------------------------- one-line errors


def test_rollback_without_previous_is_a_one_line_error(original_run: str) -> None:
    exits(mlops("promote"), 0)
    one_line_error(mlops("rollback"), "'previous'", "--to VERSION")
    assert registry_state() == [("1", ("champion",))]
    one_line_error(mlops("rollback", "--to", "1"), "already the champion")
    assert not Path("reports/rollback.json").exists()


def test_missing_model_version_alias_and_run_are_one_line_errors(
    two_versions: dict[str, str],
) -> None:
    one_line_error(mlops("models", "show", "@nope"), "no alias 'nope'")
    one_line_error(mlops("models", "show", "7"), "no version 7")
    one_line_error(mlops("models", "show", "latest"), "not a version number")
    one_line_error(mlops("rollback", "--to", "9"), "no version 9")
    one_line_error(mlops("promote", "--run-id", "0" * 32), "0" * 32)
    Path("configs/other.yaml").write_text("registry:\n  model_name: no-such-model\n")
    other = ("--config", "configs/other.yaml")
    one_line_error(mlops(*other, "models", "show", "@champion"), "'no-such-model'")
    one_line_error(mlops(*other, "rollback"), "'no-such-model'")
    assert registry_state() == [("2", ("champion",)), ("1", ("previous",))]


STORES = {
    # a regular file where the store's directory should be: unreachable even for root
    "sqlite": "sqlite:///{tmp}/not-a-dir/mlflow.db",
    "http": "http://127.0.0.1:1",
}
COMMANDS = (("promote",), ("rollback",), ("models", "list"), ("models", "show", "@champion"))


@pytest.mark.parametrize("store", sorted(STORES))
def test_unreachable_tracking_store_is_a_one_line_error(
    store: str, trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    (trained_project / "not-a-dir").write_text("")
    uri = STORES[store].format(tmp=trained_project)
    config = trained_project / "configs" / "unreachable.yaml"
    config.write_text(f"tracking:\n  uri: {uri}\nregistry:\n  model_name: {MODEL}\n")
    where = "127.0.0.1:1" if store == "http" else "not-a-dir"
    for command in COMMANDS:
        one_line_error(mlops("--config", str(config), *command), where)
    assert not Path("reports/promotion.json").exists()
