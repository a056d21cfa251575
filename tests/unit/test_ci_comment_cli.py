"""`mlops ci comment` is a CLI command over a library function: `--marker`, `GH_TOKEN`, one-line
`GitHubError`s with the token redacted, and `mlops.ci_comment` no longer runs as a program of its
own. Against the same real HTTP server as test_ci_comment.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops import ci_comment
from mlops.errors import SECRET_ENV, MlopsError, redact_secrets

from .test_ci_comment import TOKEN, FakeGitHub, github, job_env, run_module

__all__ = ["github"]  # the fixture, used by name


def test_marker_option_keeps_one_comment_per_report(tmp_path: Path, github: FakeGitHub) -> None:
    report = tmp_path / "drift.md"
    report.write_text("drift report\n")
    compare = tmp_path / "compare.md"
    compare.write_text("compare report\n")
    env = job_env(tmp_path, github)
    assert run_module(compare, env).returncode == 0
    first = run_module(report, env, "--marker", "drift-report")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created comment ")
    again = run_module(report, env, "--marker", "drift-report")
    assert again.stdout.startswith(f"updated comment {github.comments[1]['id']}")
    assert [c["body"].splitlines()[0] for c in github.comments] == [
        ci_comment.MARKER,
        "<!-- drift-report -->",
    ]


@pytest.mark.parametrize("name", ["", "a-->b", "x>y"])
def test_a_marker_that_would_break_the_html_comment_is_refused(
    tmp_path: Path, github: FakeGitHub, name: str
) -> None:
    report = tmp_path / "compare.md"
    report.write_text("report\n")
    done = run_module(report, job_env(tmp_path, github), "--marker", name)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: marker "), done.stderr
    assert github.requests == []


def test_gh_token_is_read_when_github_token_is_unset(tmp_path: Path, github: FakeGitHub) -> None:
    report = tmp_path / "compare.md"
    report.write_text("report\n")
    env = job_env(tmp_path, github)
    env["GH_TOKEN"] = env.pop("GITHUB_TOKEN")
    done = run_module(report, env)
    assert done.returncode == 0, done.stderr
    assert len(github.comments) == 1


def test_both_token_variables_are_secrets() -> None:
    assert {"GITHUB_TOKEN", "GH_TOKEN"} <= set(SECRET_ENV)


def test_post_raises_one_line_with_the_token_redacted(
    tmp_path: Path, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library raises (never prints or exits); a reply echoing the token is redacted."""
    github.status = 403
    report = tmp_path / "compare.md"
    report.write_text("report\n")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with pytest.raises(ci_comment.GitHubError) as caught:
        ci_comment.post(report, job_env(tmp_path, github))
    assert isinstance(caught.value, MlopsError)
    text = str(caught.value)
    assert "\n" not in text and "answered 403" in text and TOKEN not in text
    echoed = ci_comment.GitHubError(f"GitHub API: refused\n  token {TOKEN}")
    assert str(echoed) == "GitHub API: refused token ***" == redact_secrets(str(echoed))


def test_post_reads_the_process_environment_by_default(
    tmp_path: Path, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in job_env(tmp_path, github).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    report = tmp_path / "compare.md"
    report.write_text("report\n")
    posted = ci_comment.post(report)
    assert posted.action == "created" and posted.id == github.comments[0]["id"]


def test_the_library_module_is_no_program_and_imports_no_cli() -> None:
    code = (
        "import sys, mlops.ci_comment as c; "
        "print(hasattr(c, 'main'), sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('typer', 'click', 'mlflow', 'pydantic', 'pandas')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False []"
