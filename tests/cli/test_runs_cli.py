"""`mlops runs list|compare` on a real MLflow store: two trained runs, one promoted."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import git_init, open_project, open_store

from .helpers import exits, mlops, one_line_error

#: A weaker model whose run carries a tight tolerance of its own (gate.max_regression).
WEAK = ("model.params.hist_gradient_boosting.max_iter=3", "gate.max_regression=0.001")
#: The project's tolerance, the one `runs compare` judges by (as `mlops promote` does).
TIGHT = ("--set", "gate.max_regression=0.001")


@pytest.fixture(scope="module")
def runs_template(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained project (its run, now promoted: v1 champion) in git, plus a weaker run
    trained and evaluated at HEAD."""
    from mlops.evaluate import run_evaluation
    from mlops.promote import run_promotion
    from mlops.train import run_training

    path = tmp_path_factory.mktemp("runs") / "project"
    shutil.copytree(trained_template, path)
    git_init(path)
    original = json.loads((path / "models/run.json").read_text())["run_id"]
    run_promotion(open_project(path), open_store(path), original)
    os.environ["DVC_EXP_NAME"] = "weak-exp"  # as `dvc exp run` sets it for its stages
    try:
        weak = run_training(open_project(path, *WEAK), open_store(path, *WEAK)).run_id
        run_evaluation(open_project(path, *WEAK), open_store(path, *WEAK))
    finally:
        del os.environ["DVC_EXP_NAME"]
    (path / "ids.json").write_text(json.dumps({"original": original, "weak": weak}))
    return path


@pytest.fixture
def runs_project(
    runs_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    path = tmp_path / "project"
    shutil.copytree(runs_template, path)
    monkeypatch.chdir(path)
    monkeypatch.delenv("MLOPS_CONFIG", raising=False)
    yield json.loads((path / "ids.json").read_text())


def test_list_text_json_and_filter(runs_project: dict[str, str]) -> None:
    original, weak = runs_project["original"], runs_project["weak"]
    listed = json.loads(exits(mlops("runs", "list", "--json"), 0).stdout)
    assert [run["run_id"] for run in listed] == [weak, original]  # newest first
    newest, oldest = listed
    assert newest["primary_metric"]["name"] == "roc_auc"
    assert 0 < newest["primary_metric"]["value"] < oldest["primary_metric"]["value"]
    assert newest["estimator"] == "hist_gradient_boosting"
    assert newest["status"] == "FINISHED" and newest["duration_s"] > 0
    assert newest["gate_passed"] is not None and newest["git_commit"] not in (None, "unknown")
    assert newest["versions"] == [] and newest["dvc_experiment"] == "weak-exp"
    assert oldest["dvc_experiment"] is None
    assert oldest["versions"] == [{"version": "1", "aliases": ["champion"]}]
    assert oldest["promotion_verdict"] == "promoted" and oldest["gate_passed"] is True

    text = exits(mlops("runs", "list", "--limit", "1"), 0).stdout
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["RUN", "NAME", "STATUS"]
    assert len(lines) == 2 and lines[1].startswith(weak[:8])
    assert all(len(line) <= 120 for line in lines)
    full = exits(mlops("runs", "list"), 0).stdout
    assert "v1 champion" in full and "pass,prom" in full

    best = json.loads(
        exits(mlops("runs", "list", "--json", "--filter", "metrics.test_roc_auc > 0.999"), 0).stdout
    )
    assert [run["run_id"] for run in best] == [original]
    one_line_error(mlops("runs", "list", "--filter", "metrics.test_roc_auc >>> x"), "filter")


FILTERS = (
    "metrics.test_roc_auc > 0.999",
    "params.model.params.hist_gradient_boosting.max_iter = '3'",
    "params.`gate.max_regression` != '0.01' and metrics.test_log_loss >= 0",
    "attributes.status = 'FINISHED' AND tags.mlops.gate.passed = 'true'",
    "tags.mlops.promotion.verdict = 'promoted'",
)


@pytest.mark.parametrize("expression", FILTERS)
def test_filters_read_directly_match_mlflow(runs_project: dict[str, str], expression: str) -> None:
    """The SQLite reader's translation of simple filters selects what MLflow's search does."""
    from mlops.tracking.runs import ClientRuns, recent_runs, sql_filter

    assert sql_filter(expression) is not None  # read directly, not through MLflow
    store = open_store()
    direct = [r.run_id for r in recent_runs(store, limit=10, filter_string=expression)]
    through_mlflow = [r.run_id for r in ClientRuns(store).recent(10, expression)]
    assert direct == through_mlflow and direct


def test_filter_mlflow_grammar(runs_project: dict[str, str]) -> None:
    """What the direct reader does not translate (LIKE) is MLflow's to answer."""
    from mlops.tracking.runs import sql_filter

    expression = "attributes.run_name LIKE '%weak-exp%'"
    assert sql_filter(expression) is None
    found = json.loads(exits(mlops("runs", "list", "--json", "--filter", expression), 0).stdout)
    assert [run["run_id"] for run in found] == [runs_project["weak"]]


def test_compare_json_md_html(runs_project: dict[str, str], tmp_path: Path) -> None:
    original, weak = runs_project["original"], runs_project["weak"]
    page = tmp_path / "compare.html"
    result = exits(
        mlops(*TIGHT, "runs", "compare", weak[:8], original, "--json", "--html", str(page)), 0
    )
    payload = json.loads(result.stdout)
    assert [run["run_id"] for run in payload["runs"]] == [weak, original]
    assert payload["baseline"] == original
    assert payload["params_differ"]["model.params.hist_gradient_boosting.max_iter"] == ["3", "100"]
    assert payload["gate"]["gate.max_regression"] == ["0.001", "0.01"]
    roc = next(m for m in payload["metrics"] if m["name"] == "test_roc_auc")
    assert roc["higher_is_better"] is True and roc["deltas"][1] == 0
    assert roc["deltas"][0] == pytest.approx(roc["values"][0] - roc["values"][1])
    assert roc["deltas"][0] < 0
    # The project's tolerance (0.001 here) is what it is judged by: it regressed beyond it.
    assert payload["verdict"]["passed"] is False and payload["verdict"]["max_regression"] == 0.001
    digests = {(d["name"], d["context"]): d["digest"] for d in payload["datasets"][0]}
    assert set(digests) == {("train", "training"), ("test", "testing")}
    assert payload["datasets"][0] == payload["datasets"][1]  # same data, same digests
    assert payload["drift"] == [None, None]
    assert "reports/figures/confusion_matrix.png" in payload["artifacts"][0]
    html = page.read_text()
    assert html.count("data:image/png;base64,") >= 2 and "confusion_matrix.png" in html

    markdown = exits(mlops(*TIGHT, "runs", "compare", weak, original, "--md"), 0).stdout
    lines = markdown.splitlines()
    assert lines[0] == f"### mlops: {weak} vs {original}"
    assert lines[2].startswith("❌ **") and "worse than" in lines[2]
    assert "| test_roc_auc ↑ |" in markdown and "<details><summary>Params that differ" in markdown


def test_fail_on_regression(runs_project: dict[str, str]) -> None:
    original, weak = runs_project["original"], runs_project["weak"]
    worse = exits(mlops(*TIGHT, "runs", "compare", weak, original, "--fail-on-regression"), 3)
    assert "verdict: REGRESSION" in worse.stdout
    exits(mlops(*TIGHT, "runs", "compare", weak, original), 0)  # reported, not failed
    better = exits(mlops(*TIGHT, "runs", "compare", original, weak, "--fail-on-regression"), 0)
    assert f"verdict: ok: {original} is better than {weak}" in better.stdout


def test_refs_alias_head_and_unknown(runs_project: dict[str, str]) -> None:
    original, weak = runs_project["original"], runs_project["weak"]
    payload = json.loads(exits(mlops("runs", "compare", "HEAD", "@champion", "--json"), 0).stdout)
    assert [run["run_id"] for run in payload["runs"]] == [weak, original]
    assert payload["runs"][1]["versions"] == [{"version": "1", "aliases": ["champion"]}]
    by_experiment = json.loads(
        exits(mlops("runs", "compare", "weak-exp", original[:6], "--json"), 0).stdout
    )
    assert [run["run_id"] for run in by_experiment["runs"]] == [weak, original]
    one_line_error(mlops("runs", "compare", "HEAD", "no-such-run"), "no-such-run")
    one_line_error(mlops("runs", "compare", "HEAD", "@nope"), "@nope", "nope")


def test_secrets_redacted_in_every_output(
    runs_project: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret's value that a run recorded (here: its estimator) never reaches the output."""
    original, weak = runs_project["original"], runs_project["weak"]
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hist_gradient_boosting")
    page = tmp_path / "page.html"
    outputs = [
        exits(mlops("runs", "list", "--json"), 0).stdout,
        exits(mlops("runs", "compare", weak, original, "--md"), 0).stdout,
        exits(mlops("runs", "compare", weak, original, "--json", "--html", str(page)), 0).stdout,
        page.read_text(),
    ]
    for text in outputs:
        assert "hist_gradient_boosting" not in text and "***" in text


def test_mlflow_readers_match_the_direct_ones(
    runs_project: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a tracking server's store answers through MLflow equals what SQLite answers directly:
    whole runs, lookups by prefix/tag/name, and the versions registered from runs."""
    from mlops.registry import runs as registry_runs
    from mlops.registry.lookup import Unavailable
    from mlops.tracking import tags
    from mlops.tracking.runs import ClientRuns, find_run_ids, get_runs

    original, weak = runs_project["original"], runs_project["weak"]
    store = open_store()
    direct = get_runs(store, [weak, original])
    through_mlflow = ClientRuns(store).get([weak, original])
    for mine, theirs in zip(direct, through_mlflow, strict=True):
        assert (mine.run_id, mine.name, mine.status) == (theirs.run_id, theirs.name, theirs.status)
        assert (mine.start_ms, mine.end_ms, mine.artifact_uri) == (
            theirs.start_ms,
            theirs.end_ms,
            theirs.artifact_uri,
        )
        assert mine.params == theirs.params and mine.tags == theirs.tags
        assert mine.metrics == pytest.approx(theirs.metrics)
        assert mine.datasets == theirs.datasets and len(mine.datasets) == 2
    for query in (
        {"prefix": weak[:5]},
        {"tags": {tags.DVC_EXPERIMENT: "weak-exp"}},
        {"tags": {tags.STAGE: "train"}},
        {"name": direct[1].name},
    ):
        assert find_run_ids(store, **query) == ClientRuns(store).find(**query)  # type: ignore[arg-type]
    sqlite_versions = registry_runs.versions_by_run(store, [weak, original])

    def unavailable(location: object) -> None:
        raise Unavailable("as a store only MLflow reads")

    monkeypatch.setattr(registry_runs, "connect", unavailable)
    mlflow_versions = registry_runs.versions_by_run(store, [weak, original])
    simple = {k: [(v.version, v.aliases) for v in vs] for k, vs in sqlite_versions.items()}
    assert simple == {k: [(v.version, v.aliases) for v in vs] for k, vs in mlflow_versions.items()}
    assert simple == {original: [("1", ("champion",))]}
