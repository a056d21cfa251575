"""Help, version, usage errors, and the lazy-import contract of the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from mlops import __version__
from mlops.cli.main import app

from .conftest import Invoke
from .helpers import MLOPS, process_env

#: The commands of the spine; other commands are discovered and checked too.
SPINE = {("data",), ("data", "ingest"), ("data", "validate"), ("data", "split"), ("train",)}
SPINE |= {("eval",)}
#: Modules `mlops --help` must not load (DESIGN.md rule 5).
HEAVY = ("sklearn", "mlflow", "pandas", "scipy", "fastapi")


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix] if prefix else []
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_the_spine_commands_exist() -> None:
    assert set(COMMANDS) >= SPINE


def test_root_help_lists_the_commands(cli: Invoke) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    assert "Usage: mlops" in result.stdout
    names = ("data", "train", "eval", "--project", "--params", "--config", "--set", "--version")
    for name in names:
        assert name in result.stdout
    assert cli("-h").stdout == result.stdout


@pytest.mark.parametrize("group", [(), ("data",)], ids=["mlops", "data"])
def test_a_group_without_a_command_shows_help_as_a_usage_error(
    cli: Invoke, group: tuple[str, ...]
) -> None:
    result = cli(*group)
    assert result.exit_code == 2
    assert f"Usage: mlops {' '.join(group)}".strip() in result.stdout + result.stderr


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(cli: Invoke, path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: mlops {' '.join(path)}" in result.stdout
    assert result.stderr == ""
    # A docstring became the help text: something besides the usage line and options.
    body = result.stdout.split("Options", 1)[0]
    assert len(body.strip().splitlines()) >= 2


# --------------------------------------------------------------------------- reads well

#: Commands whose help ends with an Examples block (besides the root's).
WITH_EXAMPLES = [("init",), ("train",), ("promote",), ("drift",), ("serve",), ("tune",)]


def _help(path: tuple[str, ...], columns: int) -> str:
    """`mlops <path> --help` as printed in a terminal `columns` wide."""
    if not path:  # Click's test runner fixes the width of plain help at 80 columns
        done = subprocess.run(
            [str(MLOPS), "--help"],
            env=process_env() | {"COLUMNS": str(columns)},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="mlops", env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "mlops")
def test_no_help_text_is_eaten_or_cut(path: tuple[str, ...], columns: int) -> None:
    """Rich markup took `[default: ...]` for a tag and left `Candidate run .`: never again."""
    text = _help(path, columns)
    prose = text.split("Examples:", 1)[0]  # example commands may say `init .` or `jq .x`
    stray = re.findall(r".{0,30}\S(?: |  )[.;,](?:\s|$)", prose)
    assert stray == [], stray
    assert "…" not in text and "\b" not in text and "\\[" not in text
    # Every `[default: ...]` a help string spells out is still in the rendered help.
    spelled = sum(
        "[default:" in (getattr(param, "help", None) or "") for param in _command(path).params
    )
    assert text.count("[default:") >= spelled, text
    assert "<bool>" not in text, "a flag takes no value: no type is shown for it"


@pytest.mark.parametrize("path", [(), *WITH_EXAMPLES], ids=lambda p: " ".join(p) or "mlops")
def test_examples_close_the_help_one_command_per_line(path: tuple[str, ...]) -> None:
    text = _help(path, 80)
    assert "Examples:" in text
    lines = [line.strip() for line in text.split("Examples:", 1)[1].splitlines() if line.strip()]
    examples = [line for line in lines if line.startswith(("mlops ", "make ", "dvc ", "curl "))]
    assert len(examples) >= 2, lines
    own = [line for line in examples if line.startswith(f"mlops {' '.join(path)}".strip())]
    assert own, examples  # the command itself is shown in use
    assert all(len(line) <= 78 for line in examples), examples  # one line each at 80 columns


def test_root_help_lists_the_groups_and_completion() -> None:
    text = _help((), 200)
    headers = ["Data:", "Model:", "Registry:", "Monitoring:", "Serving:", "Operations:"]
    positions = [text.index(header) for header in headers]
    assert positions == sorted(positions)  # in the order of the pipeline
    assert text.index("Operations:") < text.index("Examples:")
    for option in ("--install-completion", "--show-completion"):
        assert option in text


def test_wide_terminals_get_whole_lines() -> None:
    """At 200 columns no summary or option help is cut short (Click stops at 80 by default)."""
    root = _help((), 200)
    assert "Fit the sklearn pipeline from params.yaml and track the run in MLflow." in root
    commands = root.split("Data:", 1)[1].split("Examples:", 1)[0]
    assert "..." not in commands, commands
    drift = _help(("drift",), 200)
    fail = _command(("drift",)).params
    help_of = {param.name: param.help for param in fail}
    for name in ("fail", "reference", "json_path"):
        whole = help_of[name].replace("\\[", "[")
        assert any(whole in line for line in drift.splitlines()), (whole, drift)


def test_version(cli: Invoke) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"mlops {__version__}" and lines[1].startswith("python 3.")
    from importlib import metadata

    for name in ("mlflow", "dvc", "scikit-learn"):
        assert f"{name} {metadata.version(name)}" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "No such command 'nope'"),
        (("data", "ingest", "--bogus"), "No such option: --bogus"),
        (("--set",), "Option '--set' requires an argument"),
        (("eval", "--gate", "--json", "extra"), "Got unexpected extra argument"),
        (("-v", "data", "frobnicate"), "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2(cli: Invoke, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_real_process_version_and_usage_error(tmp_path: Any) -> None:
    version = subprocess.run(
        [str(MLOPS), "--version"], capture_output=True, text=True, env=process_env(), check=False
    )
    assert version.returncode == 0
    assert version.stdout.splitlines()[0] == f"mlops {__version__}"
    usage = subprocess.run(
        [str(MLOPS), "nope"], capture_output=True, text=True, env=process_env(), check=False
    )
    assert usage.returncode == 2
    assert "No such command" in usage.stderr
    assert "Traceback" not in usage.stderr


# --------------------------------------------------------------------------- lazy imports


def test_importing_the_cli_and_every_help_loads_no_heavy_module() -> None:
    """`import mlops.cli.main` and `mlops [cmd] --help` stay light (a fresh interpreter)."""
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        heavy = {HEAVY!r}

        def loaded():
            return sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))

        import mlops.cli.main
        after_import = loaded()
        helps = {{}}
        for path in {[list(p) for p in ((), *COMMANDS)]!r}:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                mlops.cli.main.app([*path, "--help"], prog_name="mlops")
            helps[" ".join(path) or "mlops"] = loaded()
        print(json.dumps({{"import": after_import, "help": helps}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=process_env(), check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["import"] == []
    assert {path: mods for path, mods in found["help"].items() if mods} == {}


def test_the_console_script_help_loads_no_heavy_module() -> None:
    """The installed `mlops --help`, as a user runs it, checked with `-X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(MLOPS), "--help"],
        capture_output=True,
        text=True,
        env=process_env(),
        check=True,
    )
    assert "Usage: mlops" in done.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "mlops" in imported  # the check can see our own imports
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
