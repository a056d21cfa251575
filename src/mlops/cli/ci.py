"""`mlops ci comment`: what a CI job does beyond `make check` (the pull-request report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PANEL = "Operations"

app = typer.Typer(
    help="CI helpers: the pull-request report as one comment, updated on each push.",
    no_args_is_help=True,
    add_completion=False,
)

EXAMPLES = """\b
Examples:
  mlops ci comment compare.md       # in a job on pull_request
  mlops ci comment drift.md --marker drift-report"""


@app.command("comment", epilog=EXAMPLES)
def comment(
    report: Annotated[
        Path,
        typer.Argument(
            metavar="REPORT", help="The Markdown file to post (e.g. `mlops runs compare --md`)."
        ),
    ],
    marker: Annotated[
        str,
        typer.Option(
            "--marker",
            metavar="TEXT",
            help="Name of the report: one comment per name.",
            show_default=True,
        ),
    ] = "mlops-runs-compare",  # ci_comment.MARKER_NAME (imported lazily)
) -> None:
    """Post REPORT on the pull request the GitHub Actions job runs for, or edit the comment
    posted before for the same marker (found across every page of the comments).

    Reads GITHUB_TOKEN (or GH_TOKEN; needs `permissions: pull-requests: write`),
    GITHUB_REPOSITORY, GITHUB_EVENT_PATH and GITHUB_API_URL, as Actions sets them.
    """
    from mlops import ci_comment

    posted = ci_comment.post(report, marker=ci_comment.marker_for(marker))
    typer.echo(f"{posted.action} comment {posted.id}{f': {posted.url}' if posted.url else ''}")
