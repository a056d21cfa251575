"""One pull-request comment per report, updated on every push (the CML pattern), stdlib only.

`mlops ci comment compare.md` (the CLI over `post`) in a GitHub Actions job on `pull_request`
posts the Markdown file as a comment on the pull request, or edits the comment it posted before
(found by a hidden marker, `<!-- mlops-runs-compare -->`, across every page of the comments),
so a pull request carries one report however often it is pushed. It reads what Actions sets:

- `GITHUB_TOKEN` (or `GH_TOKEN`): a token allowed to write pull requests
  (`permissions: pull-requests: write`);
- `GITHUB_REPOSITORY`: `owner/name`;
- `GITHUB_EVENT_PATH`: the event's JSON (the pull request's number);
- `GITHUB_API_URL`: the REST API's base URL (`https://api.github.com` when unset).

Another marker names another report (one comment per marker). Problems raise `GitHubError`
with one line; both token variables are among `errors.SECRET_ENV`, so they are redacted.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mlops.errors import MlopsError, redact_secrets

#: The name of the runs comparison's comment (`mlops ci comment --marker`'s default).
MARKER_NAME = "mlops-runs-compare"
MARKER = f"<!-- {MARKER_NAME} -->"
#: GitHub refuses a comment body over 65,536 characters.
MAX_BODY = 65_536
DEFAULT_API = "https://api.github.com"
TIMEOUT = 30.0
_NEXT = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="next"')


class GitHubError(MlopsError):
    """The GitHub API refused or could not be reached, or the job's context is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_secrets(" ".join(message.split())))


class Posted(NamedTuple):
    """What `post` did: "created" or "updated", the comment's id and its web URL."""

    action: str
    id: int
    url: str


#: The variables the token is read from, in this order (Actions sets neither by itself).
TOKEN_ENV = ("GITHUB_TOKEN", "GH_TOKEN")


@dataclass(frozen=True)
class GitHub:
    """The few REST calls the comment needs: list, create and edit issue comments."""

    api: str
    repository: str
    token: str

    def _request(
        self, method: str, url: str, payload: dict[str, Any] | None = None
    ) -> tuple[Any, str]:
        """(the JSON reply, the `Link` header); `GitHubError` with one line on failure."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "mlops-ci-comment")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = f"{method} {url.split('?')[0]}"
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
                body = reply.read()
                link = reply.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            detail = _message(exc.read())
            advice = ""
            if exc.code in (401, 403):
                advice = (
                    " (GITHUB_TOKEN needs `permissions: pull-requests: write`; a pull request "
                    "from a fork gets a read-only token)"
                )
            text = f"GitHub API: {where} answered {exc.code} {exc.reason}{detail}{advice}"
            raise GitHubError(text) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(f"GitHub API: {where} failed: {reason}") from None
        try:
            return (json.loads(body) if body else None), link
        except ValueError:
            raise GitHubError(f"GitHub API: {where} answered something not JSON") from None

    def comments(self, number: int) -> list[dict[str, Any]]:
        """Every comment on issue/pull request `number`, following the `Link: rel="next"` pages."""
        url: str | None = (
            f"{self.api}/repos/{self.repository}/issues/{number}/comments?per_page=100"
        )
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            page, link = self._request("GET", url)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub API: GET {url.split('?')[0]} did not answer a list")
            found.extend(item for item in page if isinstance(item, dict))
            match = _NEXT.search(link)
            url = match.group("url") if match else None
        return found

    def upsert(self, number: int, body: str, marker: str = MARKER) -> Posted:
        """Edit the comment holding `marker`, or create one: ("updated"|"created", id, URL)."""
        for comment in self.comments(number):
            if marker in str(comment.get("body") or ""):
                url = f"{self.api}/repos/{self.repository}/issues/comments/{comment['id']}"
                reply, _ = self._request("PATCH", url, {"body": body})
                return Posted("updated", int(comment["id"]), str(_get(reply, "html_url")))
        url = f"{self.api}/repos/{self.repository}/issues/{number}/comments"
        reply, _ = self._request("POST", url, {"body": body})
        return Posted("created", int(_get(reply, "id") or 0), str(_get(reply, "html_url")))


def _get(reply: Any, key: str) -> Any:
    return reply.get(key, "") if isinstance(reply, dict) else ""


def _message(raw: bytes) -> str:
    """GitHub's `message` from an error reply, as `: message` on one line (or nothing)."""
    try:
        text = json.loads(raw).get("message", "")
    except (ValueError, AttributeError):
        return ""
    text = " ".join(str(text).split())[:200]
    return f": {text}" if text else ""


def pull_request_number(event_path: str | None) -> int:
    """The pull request's number from the Actions event file."""
    if not event_path:
        raise GitHubError("GITHUB_EVENT_PATH is not set: run this in a GitHub Actions job")
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GitHubError(f"{event_path}: cannot read the event ({exc})") from None
    for source in (event.get("pull_request"), event.get("issue"), event):
        if isinstance(source, dict) and isinstance(source.get("number"), int):
            return int(source["number"])
    raise GitHubError(f"{event_path}: not a pull request event (no pull_request.number)")


def marker_for(name: str) -> str:
    """The hidden HTML comment that finds the report named `name` again."""
    text = " ".join(name.split())
    if not text or "--" in text or ">" in text:
        raise GitHubError(f"marker {name!r}: expected a name without `--` or `>`, e.g. ci-report")
    return f"<!-- {text} -->"


def comment_body(report: str, marker: str = MARKER) -> str:
    """The marker (hidden in the rendered comment), then the report, cut to GitHub's limit."""
    body = f"{marker}\n{report.rstrip()}\n"
    if len(body) > MAX_BODY:
        note = "\n\n… (cut: the whole report is in the job summary)\n"
        body = body[: MAX_BODY - len(note)] + note
    return body


def post(report_file: Path, env: Mapping[str, str] | None = None, marker: str = MARKER) -> Posted:
    """Post or update the comment for `report_file` in the pull request the job runs for;
    `env` is the job's environment (`os.environ` when None)."""
    env = os.environ if env is None else env
    token = next((env[name] for name in TOKEN_ENV if env.get(name)), "")
    if not token:
        raise GitHubError("GITHUB_TOKEN is not set (env: GITHUB_TOKEN: ${{ github.token }})")
    repository = env.get("GITHUB_REPOSITORY", "")
    if repository.count("/") != 1:
        raise GitHubError(f"GITHUB_REPOSITORY is {repository!r}: expected owner/name")
    try:
        report = report_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise GitHubError(f"{report_file}: cannot read the report ({reason})") from None
    if not report.strip():
        raise GitHubError(f"{report_file}: the report is empty")
    number = pull_request_number(env.get("GITHUB_EVENT_PATH"))
    api = (env.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    return GitHub(api, repository, token).upsert(number, comment_body(report, marker), marker)
