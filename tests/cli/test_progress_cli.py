"""Progress bars of `mlops drift` as a real process: on a terminal they show, piped or with
`-q` stderr holds no bar (nor the terminal codes that draw one)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .helpers import process_env

#: What rich draws a bar, a spinner and a hidden cursor with.
BAR_MARKS = ("━", "⠋", "\x1b[?25l")
DRIFT = ("drift", "--reference", "ref.parquet", "--current", "cur.parquet", "--no-fail")


@pytest.fixture
def batches(project: Path) -> Path:
    rng = np.random.default_rng(3)
    for name, shift in (("ref", 0.0), ("cur", 0.4)):
        columns = {f"x{i}": rng.normal(shift, 1.0, 500) for i in range(8)}
        pq.write_table(pa.table(columns), project / f"{name}.parquet")
    return project


def _env(**extra: str) -> dict[str, str]:
    env = process_env()
    env.pop("MLOPS_PROGRESS", None)
    env.update(COLUMNS="120", TERM="xterm-256color", **extra)
    return env


def _on_terminal(cwd: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """`mlops args` as a real process with stderr on a pseudo-terminal (see `_terminal`)."""
    return _terminal([sys.executable, "-m", "mlops", *args], cwd, _env(**env), timeout=120)


def _terminal(
    command: list[str], cwd: Path, env: dict[str, str], *, timeout: float
) -> tuple[int, str, str]:
    """Run `command` with stderr on a pseudo-terminal: exit code, stdout, what the terminal got."""
    master, replica = pty.openpty()
    try:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=replica,
        )
    finally:
        os.close(replica)
    seen = b""
    try:
        while chunk := os.read(master, 65536):
            seen += chunk
    except OSError:  # EIO: the process closed the terminal
        pass
    finally:
        os.close(master)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=timeout), out, seen.decode(errors="replace")


def test_a_terminal_shows_the_drift_step_per_column(batches: Path) -> None:
    code, out, terminal = _on_terminal(batches, *DRIFT, MLOPS_PROGRESS="1")
    assert code == 0, terminal
    assert "━" in terminal and "drift" in terminal
    assert "/8 columns" in terminal  # the total: the eight columns compared
    assert "x0" in out  # the report still goes to stdout, untouched by the bar
    # The bar is transient, the lines after it are whole: the last line is the reports line.
    assert terminal.rstrip().splitlines()[-1].split("\r")[-1].startswith("reports -> ")


def test_quiet_on_a_terminal_shows_no_bar(batches: Path) -> None:
    code, _, terminal = _on_terminal(batches, "-q", *DRIFT, MLOPS_PROGRESS="1")
    assert code == 0, terminal
    assert not any(mark in terminal for mark in BAR_MARKS), terminal


def test_piped_stderr_gets_no_bar(batches: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlops", *DRIFT],
        cwd=batches,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "reports -> " in done.stderr
    assert not any(mark in done.stderr for mark in BAR_MARKS), done.stderr


LOGGING_UNDER_A_BAR = """
import logging
from mlops import progress
from mlops.cli.state import setup_logging
setup_logging(0, False, "text")
with progress.task("work", total=3, unit="things") as step:
    for i in range(3):
        logging.getLogger("mlops.try").info("line %d", i)
        step.advance()
"""


def test_log_lines_go_above_the_bar_not_across_it(tmp_path: Path) -> None:
    code, _, terminal = _terminal(
        [sys.executable, "-c", LOGGING_UNDER_A_BAR], tmp_path, _env(MLOPS_PROGRESS="1"), timeout=60
    )
    assert code == 0
    assert "━" in terminal and "0/3 things" in terminal
    for i in range(3):
        line = f"INFO mlops.try: line {i}\r\n"
        assert line in terminal, terminal
        # Each log line starts on a cleared line (the bar erased first), never after bar text.
        before = terminal[: terminal.index(line)]
        assert before.endswith(("\x1b[2K", "\n")), repr(before[-80:])
