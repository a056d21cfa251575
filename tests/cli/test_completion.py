"""Shell completion: Typer's scripts, and values completed from a real project's SQLite store.

Completion is driven the way the shells drive it: the `mlops` console script as a real process
with `_MLOPS_COMPLETE=complete_bash|complete_zsh` and the words typed so far, and in real bash
through the script `mlops --show-completion bash` prints.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import open_project, open_store

from .helpers import MLOPS, process_env

MODEL = "penguins-classifier"  # configs/local.yaml of the example project
CLASSIFIERS = ["extra_trees", "hist_gradient_boosting", "logistic_regression", "random_forest"]


@pytest.fixture(scope="module")
def promoted(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained project whose run is registered as v1 with the alias `champion`."""
    from mlops.promote import run_promotion

    path = tmp_path_factory.mktemp("completion") / "project"
    shutil.copytree(trained_template, path)
    result = run_promotion(open_project(path), open_store(path))
    assert result.record.accepted, result.record.message
    return path


def ask(
    cwd: Path, words: str, *, shell: str = "bash", python: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mlops` run as a shell runs it to complete `words` (the last word is incomplete)."""
    env = process_env() | {"_MLOPS_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
    return subprocess.run(
        [*(python or []), str(MLOPS)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def complete(cwd: Path, words: str, *, shell: str = "bash") -> str:
    """What `mlops` answers a shell asking to complete `words` (the last word is incomplete)."""
    done = ask(cwd, words, shell=shell)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_versions_and_aliases_complete_for_card(promoted: Path) -> None:
    assert complete(promoted, "mlops card ").splitlines() == ["@champion", "1"]
    assert complete(promoted, "mlops card @").splitlines() == ["@champion"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("mlops rollback --to ", ["@champion", "1"]),
        ("mlops models show @c", ["@champion"]),
        ("mlops serve --model ", [f"models:/{MODEL}@champion", f"models:/{MODEL}/1"]),
        (
            "mlops predict in.csv out.csv -m models",
            [f"models:/{MODEL}@champion", f"models:/{MODEL}/1"],
        ),
        (
            "mlops explain x.csv --model models:/p",
            [f"models:/{MODEL}@champion", f"models:/{MODEL}/1"],
        ),
    ],
)
def test_model_references_complete_where_commands_take_them(
    promoted: Path, words: str, expected: list[str]
) -> None:
    assert complete(promoted, words).splitlines() == expected


def test_promote_run_id_completes_the_trained_run(promoted: Path) -> None:
    run_id = json.loads((promoted / "models" / "run.json").read_text())["run_id"]
    assert run_id in complete(promoted, "mlops promote --run-id ").splitlines()
    assert complete(promoted, f"mlops promote --run-id {run_id[:6]}").splitlines() == [run_id]


def test_set_completes_param_keys_and_the_estimators_of_the_task(promoted: Path) -> None:
    keys = complete(promoted, "mlops --set model.").splitlines()
    assert "model.estimator=" in keys and all(k.startswith("model.") for k in keys)
    zsh = complete(promoted, "mlops --set model.estimator=", shell="zsh")
    for name in CLASSIFIERS:
        assert f'"model.estimator={name}":"estimator"' in zsh
    assert "ridge" not in zsh  # a regression estimator: not offered to a classification task


def test_nothing_completes_outside_a_project_or_from_a_broken_store(
    promoted: Path, tmp_path: Path
) -> None:
    assert complete(tmp_path, "mlops card ").strip() == ""
    broken = tmp_path / "broken"
    shutil.copytree(promoted, broken)
    (broken / "mlflow.db").write_bytes(b"not a database" * 100)
    assert complete(broken, "mlops card ").strip() == ""
    assert complete(broken, "mlops rollback --to ").strip() == ""
    assert complete(broken, "mlops promote --run-id ").strip() == ""


def test_completing_a_value_imports_no_heavy_module(promoted: Path) -> None:
    """A Tab press reads SQLite directly: MLflow, scikit-learn and pandas stay unloaded."""
    done = ask(promoted, "mlops card ", python=[sys.executable, "-X", "importtime"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["@champion", "1"]
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "sqlite3" in imported
    assert imported.isdisjoint({"mlflow", "sklearn", "pandas", "sqlalchemy"}), imported


def _script(shell: str) -> str:
    env = process_env() | {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run(
        [str(MLOPS), "--show-completion", shell],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_the_shell_script(shell: str) -> None:
    script = _script(shell)
    assert "_MLOPS_COMPLETE=complete_" + shell in script
    assert "mlops" in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completes_through_the_installed_script(promoted: Path, tmp_path: Path) -> None:
    """The script bash sources, asked as bash asks it: words split at `=` and `:` included."""
    script = tmp_path / "mlops-completion.bash"
    script.write_text(_script("bash"))
    probe = f"""
        source {script}
        ask() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mlops_completion mlops
                 printf '%s,' "${{COMPREPLY[@]}}"; echo; }}
        ask mlops card ''
        ask mlops --set model.estimator = r
        ask mlops --set model.estimator =
        ask mlops serve --model models : /pen
        ask mlops da
    """
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        cwd=promoted,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "@champion,1,",
        "random_forest,",
        ",".join(CLASSIFIERS) + ",",
        f"/{MODEL}@champion,/{MODEL}/1,",
        "data,",
    ]


def test_a_hostile_params_file_completes_quickly(promoted: Path, tmp_path: Path) -> None:
    """YAML aliases nesting a billion keys: `--set` offers a bounded few, at once."""
    copy = tmp_path / "hostile"
    shutil.copytree(promoted, copy)
    levels = ["l0: &l0 {x: 1, y: 2}"]
    for level in range(1, 10):
        refs = ", ".join(f"k{i}: *l{level - 1}" for i in range(10))
        levels.append(f"l{level}: &l{level} {{{refs}}}")
    (copy / "params.yaml").write_text("\n".join(levels) + "\n")
    keys = complete(copy, "mlops --set l").splitlines()
    assert 0 < len(keys) <= 500 and all(k.startswith("l") and k.endswith("=") for k in keys)


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:///mlflow.db",
        "sqlite:///store/mlflow.db?timeout=5",
        "sqlite:////tmp/abs/mlflow.db",
        "sqlite+pysqlite:///x%20y.db",
        "sqlite:///~/m.db",
    ],
)
def test_completion_finds_the_store_where_the_cli_does(uri: str, tmp_path: Path) -> None:
    from mlops.cli.completion import sqlite_path
    from mlops.tracking.uri import parse_tracking_uri

    assert sqlite_path(uri, tmp_path) == parse_tracking_uri(uri, tmp_path).path


@pytest.mark.parametrize("uri", ["sqlite://", "sqlite:///:memory:", "http://h:5000", "./mlruns"])
def test_completion_needs_a_sqlite_file(uri: str, tmp_path: Path) -> None:
    from mlops.cli.completion import sqlite_path

    assert sqlite_path(uri, tmp_path) is None


def test_install_completion_writes_the_script_and_sources_it(tmp_path: Path) -> None:
    """`mlops --install-completion bash` in a home of its own: the script, and one line in
    .bashrc that sources it (a second install adds no second line)."""
    env = process_env() | {
        "HOME": str(tmp_path),
        "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1",
    }
    for _ in range(2):
        done = subprocess.run(
            [str(MLOPS), "--install-completion", "bash"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "bash completion installed" in done.stdout
    script = tmp_path / ".bash_completions" / "mlops.sh"
    assert "_MLOPS_COMPLETE=complete_bash" in script.read_text()
    bashrc = (tmp_path / ".bashrc").read_text()
    assert bashrc.count(f"source '{script}'") == 1
