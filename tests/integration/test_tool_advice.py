"""Errors from wrapped tools keep their advice: DVC's hint on the line below its message stays in
the one-line error (a real git + DVC repository without a remote)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_example, git_init
from mlops.errors import one_line

BIN = Path(sys.executable).parent


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    """The example project in a git + DVC repository with no DVC remote."""
    root = copy_example(tmp_path / "project")
    git_init(root)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, check=True, capture_output=True)
    return root


def _error_line(root: Path, *args: str) -> str:
    """Run `mlops ARGS` as a user would; it must fail with exactly one `error:` line."""
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env.update(DVC_NO_ANALYTICS="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    result = subprocess.run(
        [str(BIN / "mlops"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_push_without_a_remote_keeps_the_command_to_add_one(dvc_repo: Path) -> None:
    line = _error_line(dvc_repo, "data", "push")
    assert line == (
        f"error: dvc push: config file error: no remote specified in {dvc_repo}. "
        "Create a default remote with: dvc remote add -d <remote name> <remote url>"
    )


def test_pull_of_nothing_lists_the_targets_on_one_line(dvc_repo: Path) -> None:
    line = _error_line(dvc_repo, "data", "pull")
    assert line.startswith("error: dvc pull: ")
    assert "\x1b" not in line  # DVC colours its link: no escape codes in our line
    assert "Is your cache up to date?" in line


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "no remote specified. Create a default remote with\n    dvc remote add -d <n> <url>",
            "no remote specified. Create a default remote with: dvc remote add -d <n> <url>",
        ),
        (
            "Checkout failed for following targets:\na.parquet\nb.parquet\nIs your cache up to "
            "date?\n<\x1b[36mhttps://error.dvc.org/missing-files\x1b[39m>",
            "Checkout failed for following targets: a.parquet; b.parquet; Is your cache up to "
            "date? <https://error.dvc.org/missing-files>",
        ),
        ("one line only", "one line only"),
        ("  padded  \n\n", "padded"),
        ("first.\nSecond sentence.", "first. Second sentence."),
    ],
)
def test_one_line_joins_what_follows_the_first_line(message: str, expected: str) -> None:
    assert one_line(RuntimeError(message)) == expected


def test_one_line_of_an_empty_message_is_the_type() -> None:
    assert one_line(KeyError()) == "KeyError"
