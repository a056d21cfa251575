"""Fixtures for the CLI tests: `mlops <args>` in-process through Typer's CliRunner."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from mlops.cli.main import app

from .helpers import USER_SETTINGS

Invoke = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run `mlops <args>` in-process; stdout and stderr are captured separately."""
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), prog_name="mlops")

    return invoke
