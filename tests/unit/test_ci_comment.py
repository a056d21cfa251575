"""`mlops ci comment` (over `mlops.ci_comment.post`): one pull-request comment, created then
updated, against a real HTTP server on 127.0.0.1 that answers as GitHub's REST API does for issue
comments."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlops import ci_comment

TOKEN = "ghs_s3cretTokenValue123"
REPO = "octo/model"
PR = 7


@dataclass
class FakeGitHub:
    """Issue comments kept in memory; `page_size` comments per page with a `Link` header."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    page_size: int = 100
    status: int = 200  # 401/403: every request refused
    next_id: int = 1000
    url: str = ""

    def add(self, body: str) -> int:
        self.next_id += 1
        self.comments.append({"id": self.next_id, "body": body, "html_url": f"c{self.next_id}"})
        return self.next_id


def handler(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    list_path = re.compile(rf"^/repos/{REPO}/issues/{PR}/comments$")
    edit_path = re.compile(rf"^/repos/{REPO}/issues/comments/(\d+)$")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, payload: Any, link: str = "") -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            self.wfile.write(data)

        def refused(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.reply(401, {"message": "Bad credentials"})
                return True
            if github.status != 200:
                self.reply(github.status, {"message": "Resource not accessible by integration"})
                return True
            return False

        def body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", "0"))
            return dict(json.loads(self.rfile.read(length)))

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            github.requests.append(("GET", self.path))
            if self.refused():
                return
            if not list_path.match(path):
                return self.reply(404, {"message": "Not Found"})
            page = int(dict(p.split("=") for p in query.split("&") if p).get("page", "1"))
            size = github.page_size
            chunk = github.comments[(page - 1) * size : page * size]
            more = page * size < len(github.comments)
            link = f'<{github.url}{path}?per_page={size}&page={page + 1}>; rel="next"'
            link += f', <{github.url}{path}?per_page={size}&page=1>; rel="first"'
            self.reply(200, chunk, link if more else "")

        def do_POST(self) -> None:
            github.requests.append(("POST", self.path))
            if self.refused():
                return
            if not list_path.match(self.path):
                return self.reply(404, {"message": "Not Found"})
            new = github.add(self.body()["body"])
            self.reply(201, github.comments[-1] | {"id": new})

        def do_PATCH(self) -> None:
            github.requests.append(("PATCH", self.path))
            if self.refused():
                return
            match = edit_path.match(self.path)
            found = [c for c in github.comments if match and c["id"] == int(match.group(1))]
            if not found:
                return self.reply(404, {"message": "Not Found"})
            found[0]["body"] = self.body()["body"]
            self.reply(200, found[0])

    return Handler


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def job_env(tmp_path: Path, github: FakeGitHub, token: str = TOKEN) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": PR}}))
    return {
        "GITHUB_TOKEN": token,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": github.url,
    }


def run_module(
    report: Path, env: dict[str, str], *options: str
) -> subprocess.CompletedProcess[str]:
    """`mlops ci comment REPORT [options]` as the workflow runs it, in a real process."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_", "MLOPS_"))}
    return subprocess.run(
        [sys.executable, "-m", "mlops", "ci", "comment", str(report), *options],
        env={**keep, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_first_run_creates_and_the_next_updates_the_same_comment(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.add("LGTM")  # someone else's comment is left alone
    report = tmp_path / "compare.md"
    report.write_text("| metric | HEAD | @champion |\n|---|---|---|\n| roc_auc | 0.99 | 0.98 |\n")
    first = run_module(report, job_env(tmp_path, github))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created comment ")
    assert len(github.comments) == 2
    ours = github.comments[1]
    assert ours["body"].startswith(ci_comment.MARKER) and "0.99" in ours["body"]

    report.write_text("| metric | HEAD | @champion |\n|---|---|---|\n| roc_auc | 0.97 | 0.98 |\n")
    second = run_module(report, job_env(tmp_path, github))
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"updated comment {ours['id']}")
    assert len(github.comments) == 2, "updated, not duplicated"
    assert "0.97" in github.comments[1]["body"] and "0.99" not in github.comments[1]["body"]
    assert github.comments[0]["body"] == "LGTM"
    assert [m for m, _ in github.requests] == ["GET", "POST", "GET", "PATCH"]


def test_the_marker_is_found_on_a_later_page(tmp_path: Path, github: FakeGitHub) -> None:
    """GitHub pages comments: the earlier report sits on page 2 of 3 (Link: rel="next")."""
    github.page_size = 3
    for n in range(4):
        github.add(f"comment {n}")
    mine = github.add(f"{ci_comment.MARKER}\nold report")
    for n in range(3):
        github.add(f"later {n}")
    report = tmp_path / "compare.md"
    report.write_text("new report\n")
    done = ci_comment.post(report, job_env(tmp_path, github))
    assert done[:2] == ("updated", mine)
    assert len(github.comments) == 8
    assert [c["body"] for c in github.comments if c["id"] == mine] == [
        f"{ci_comment.MARKER}\nnew report\n"
    ]
    pages = [path for method, path in github.requests if method == "GET"]
    assert len(pages) == 3 and "page=2" in pages[1] and "page=3" in pages[2]

    # Every page is read before deciding to create: a marker on the last page is still found.
    github.requests.clear()
    github.comments[-1]["body"] = github.comments[mine - 1001]["body"]
    github.comments[mine - 1001]["body"] = "edited by a human"
    assert ci_comment.post(report, job_env(tmp_path, github))[:2] == (
        "updated",
        github.comments[-1]["id"],
    )
    assert len([m for m, _ in github.requests if m == "GET"]) == 3
    assert len(github.comments) == 8


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_one_line_exit_1_without_the_token(
    tmp_path: Path, github: FakeGitHub, status: int
) -> None:
    report = tmp_path / "compare.md"
    report.write_text("report\n")
    if status == 401:
        env = job_env(tmp_path, github, token="ghs_wrongTokenValue999")
    else:
        github.status = 403
        env = job_env(tmp_path, github)
    done = run_module(report, env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: GitHub API: GET ")
    assert f"answered {status}" in lines[0] and "pull-requests: write" in lines[0]
    assert "Traceback" not in done.stderr
    assert env["GITHUB_TOKEN"] not in done.stdout + done.stderr
    assert github.comments == []


def test_missing_context_is_one_line(tmp_path: Path, github: FakeGitHub) -> None:
    report = tmp_path / "compare.md"
    report.write_text("report\n")
    env = job_env(tmp_path, github)
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps({"ref": "refs/heads/main"}))
    done = run_module(report, env)
    assert done.returncode == 1 and "not a pull request event" in done.stderr
    no_token = run_module(report, {**env, "GITHUB_TOKEN": ""})
    assert no_token.returncode == 1 and "GITHUB_TOKEN is not set" in no_token.stderr
    empty = tmp_path / "empty.md"
    empty.write_text("")
    assert "empty" in run_module(empty, job_env(tmp_path, github)).stderr
    assert github.requests == []


def test_long_report_is_cut_to_githubs_limit() -> None:
    body = ci_comment.comment_body("x" * 100_000)
    assert len(body) <= ci_comment.MAX_BODY
    assert body.startswith(ci_comment.MARKER) and "job summary" in body
