"""Expected errors: one `error: ...` line on stderr, exit 1, no traceback, nothing half-written."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import yaml

from .conftest import Invoke
from .helpers import assert_one_line_error, run_mlops, snapshot


def _edit_yaml(path: Path, section: str, key: str, value: object) -> None:
    tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    tree.setdefault(section, {})[key] = value
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")


def _runs(project: Path) -> int:
    with sqlite3.connect(project / "mlflow.db") as db:
        return int(db.execute("select count(*) from runs").fetchone()[0])


# --------------------------------------------------------------------------- data sources

#: Patterns for `data.source=<name>` errors. A file that cannot be read is named resolved
#: against the project root (`<root>/`); the contract checks name the source as configured.
BAD_SOURCES = {
    "missing.csv": (None, r"^error: <root>/missing\.csv: file not found$"),
    "garbled.csv": (b'a,b\n1,"2\n3,4\n', r"^error: <root>/garbled\.csv: cannot parse CSV \("),
    "ragged.csv": (
        b"a,species\n1,x\n1,2,3,4\n",
        r"^error: <root>/ragged\.csv: cannot parse CSV \(",
    ),
    "empty.csv": (b"", r"^error: <root>/empty\.csv: file is empty$"),
    "header.csv": (
        b"bill_length_mm,island,species\n",
        r"^error: <root>/header\.csv: no data rows \(header only\)$",
    ),
    "no_target.csv": (
        b"a,b\n1,2\n3,4\n",
        r"^error: no_target\.csv: target column 'species' not found \(columns: a, b\)$",
    ),
    "one_class.csv": (
        b"size,species\n1,Adelie\n2,Adelie\n3,Adelie\n",
        r"^error: one_class\.csv: target column 'species' has a single class \('Adelie'\); "
        r"classification needs at least 2$",
    ),
    "binary.parquet": (b"PAR1garbage", r"^error: <root>/binary\.parquet: cannot read parquet file"),
    "data.json": (b"{}", r"^error: <root>/data\.json: unsupported file type '\.json'"),
}


def _rooted(pattern: str, root: Path) -> str:
    """`pattern` with `<root>` standing for the project root."""
    return pattern.replace("<root>", re.escape(str(root)))


@pytest.mark.parametrize("name", sorted(BAD_SOURCES))
def test_bad_source_file_on_ingest(project: Path, cli: Invoke, name: str) -> None:
    content, pattern = BAD_SOURCES[name]
    if content is not None:
        (project / name).write_bytes(content)
    before = snapshot(project)
    result = cli("--set", f"data.source={name}", "data", "ingest")
    assert_one_line_error(result, _rooted(pattern, project))
    assert snapshot(project) == before  # no data/, no schema, no temp files


def test_unknown_builtin_dataset(project: Path, cli: Invoke) -> None:
    result = cli("--set", "data.source=builtin:mnist", "data", "ingest")
    assert_one_line_error(result, r"unknown builtin dataset 'builtin:mnist' \(known: .*penguins")


def test_validate_an_unreadable_file(trained_project: Path, cli: Invoke) -> None:
    (trained_project / "empty.csv").write_bytes(b"")
    before = snapshot(trained_project)
    assert_one_line_error(
        cli("data", "validate", "empty.csv"), r"^error: empty\.csv: file is empty$"
    )
    assert snapshot(trained_project) == before


# --------------------------------------------------------------------------- config files


@pytest.mark.parametrize(
    ("file", "section", "key", "value", "pattern"),
    [
        (
            "params.yaml",
            "model",
            "estimater",
            "ridge",
            r"params\.yaml: unknown key 'model\.estimater'",
        ),
        ("params.yaml", "split", "test_size", "big", r"params\.yaml: split\.test_size: .*'big'"),
        ("params.yaml", "data", "task", "ranking", r"params\.yaml: data\.task: "),
        (
            "configs/local.yaml",
            "tracking",
            "url",
            "x",
            r"local\.yaml: unknown key 'tracking\.url'",
        ),
        ("configs/local.yaml", "serve", "port", "http", r"local\.yaml: serve\.port: .*'http'"),
    ],
)
def test_bad_config_file(
    project: Path, cli: Invoke, file: str, section: str, key: str, value: object, pattern: str
) -> None:
    _edit_yaml(project / file, section, key, value)
    before = snapshot(project)
    assert_one_line_error(cli("data", "ingest"), pattern)
    assert snapshot(project) == before


def test_unparseable_params_file(project: Path, cli: Invoke) -> None:
    (project / "params.yaml").write_text("data: {source: [\n", encoding="utf-8")
    assert_one_line_error(
        cli("data", "ingest"),
        _rooted(r"^error: <root>/params\.yaml \(line \d+\): not valid YAML$", project),
    )


def test_missing_params_and_config_files(project: Path, cli: Invoke) -> None:
    assert_one_line_error(
        cli("--params", "nope.yaml", "data", "ingest"),
        _rooted(r"^error: <root>/nope\.yaml: file not found$", project),
    )
    assert_one_line_error(
        cli("--config", "configs/prod.yaml", "data", "ingest"), r"prod\.yaml: file not found$"
    )


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("model.bogus=1", r"params\.yaml: unknown key 'model\.bogus'"),
        ("split.test_size=abc", r"split\.test_size: .*'abc'"),
        ("split.seed", r"--set 'split\.seed': expected key\.path=value"),
        ("data.drop=[year", r"value is not valid YAML"),
    ],
)
def test_bad_override(project: Path, cli: Invoke, override: str, pattern: str) -> None:
    before = snapshot(project)
    assert_one_line_error(cli("--set", override, "data", "ingest"), pattern)
    assert snapshot(project) == before


# --------------------------------------------------------------------------- training


def test_unknown_estimator(trained_project: Path, cli: Invoke) -> None:
    runs = _runs(trained_project)
    before = snapshot(trained_project / "models")
    result = cli("--set", "model.estimator=xgboost", "train")
    assert_one_line_error(
        result,
        r"^error: /.*/params\.yaml: model\.estimator: unknown estimator 'xgboost' for "
        r"classification \(known:",
    )
    assert snapshot(trained_project / "models") == before
    assert _runs(trained_project) == runs  # no MLflow run was started


def test_unknown_hyperparameter(trained_project: Path, cli: Invoke) -> None:
    runs = _runs(trained_project)
    result = cli("--set", "model.params.max_iters=5", "train")
    assert_one_line_error(
        result,
        r"params\.yaml: model\.params\.max_iters: hist_gradient_boosting has no parameter "
        r"'max_iters' \(did you mean 'max_iter'\?",
    )
    assert _runs(trained_project) == runs


def test_train_before_split_says_which_command_to_run(project: Path, cli: Invoke) -> None:
    assert cli("data", "ingest").exit_code == 0
    before = snapshot(project)
    line = assert_one_line_error(cli("train"), r"run `mlops data split` first")
    assert "train.parquet" in line
    assert snapshot(project) == before
    assert not (project / "mlflow.db").exists()


def test_commands_before_ingest_say_which_command_to_run(project: Path, cli: Invoke) -> None:
    before = snapshot(project)
    for args in (("data", "split"), ("data", "validate"), ("train",), ("tune",)):
        assert_one_line_error(cli(*args), r"run `mlops data ingest` first")
    assert_one_line_error(cli("eval"), r"run `mlops train` first")
    # Only the files of a fresh example project, untouched.
    assert sorted(p.name for p in project.iterdir()) == [
        ".mlops.yaml",
        "configs",
        "dvc.yaml",
        "params.yaml",
        "reports",
        "tune",  # tune/dvc.yaml
    ]
    assert snapshot(project) == before


def test_gate_on_an_unknown_metric(trained_project: Path, cli: Invoke) -> None:
    before = snapshot(trained_project / "reports")
    result = cli("--set", "gate.metrics.acuracy.min=0.5", "eval")
    assert_one_line_error(
        result, r"params\.yaml: gate\.metrics\.acuracy: 'acuracy' is not a classification metric"
    )
    assert snapshot(trained_project / "reports") == before


# --------------------------------------------------------------------------- as a real process


def test_real_process_errors_are_one_line(project: Path) -> None:
    """The console script itself: one line, exit 1, no traceback, no log noise."""
    (project / "empty.csv").write_bytes(b"")
    cases = [
        (
            ("--set", "data.source=empty.csv", "data", "ingest"),
            f"error: {project / 'empty.csv'}: file is empty",
        ),
        (
            ("--set", "model.bogus=1", "train"),
            f"error: {project / 'params.yaml'}: unknown key 'model.bogus'",
        ),
        (
            ("train",),
            f"error: {project / 'data' / 'schema.json'}: schema contract not found; "
            "run `mlops data ingest` first",
        ),
    ]
    for args, expected in cases:
        done = run_mlops(*args, cwd=project)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", expected + "\n")


def test_debug_mode_shows_the_traceback(project: Path) -> None:
    import os
    import subprocess

    from .helpers import MLOPS, process_env

    done = subprocess.run(
        [str(MLOPS), "--set", "model.bogus=1", "train"],
        cwd=project,
        env={**process_env(), "MLOPS_DEBUG": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" in done.stderr
    assert "ConfigError" in done.stderr
    assert os.environ.get("MLOPS_DEBUG") != "1"  # the test itself did not leak the setting
