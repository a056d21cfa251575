"""`mlops promote`, `mlops rollback`, `mlops models list|show`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops.cli import completion
from mlops.cli.state import options

if TYPE_CHECKING:
    from mlops.promote import PromotionResult

PANEL = "Registry"

models_app = typer.Typer(
    help="List and show registered model versions, aliases and lineage.", no_args_is_help=True
)


def show_decision(result: PromotionResult, json_out: bool) -> None:
    from mlops.cli.state import fmt, print_json, stdout

    record = result.record
    if json_out:
        print_json(record.to_json())
    else:
        from rich.table import Table

        if record.gates:
            table = Table(title=f"Promotion gates (candidate run {record.candidate.run_id})")
            for column in ("gate", "value", "threshold", "result"):
                table.add_column(column)
            for gate in record.gates:
                table.add_row(
                    gate.name, fmt(gate.value), gate.threshold, "pass" if gate.passed else "FAIL"
                )
            stdout().print(table)
        if record.comparison:
            table = Table(title="Candidate vs champion (same test split)")
            for column in ("metric", "candidate", "champion", "delta"):
                table.add_column(column, justify="right" if column != "metric" else "left")
            for row in record.comparison:
                table.add_row(row.metric, fmt(row.candidate), fmt(row.champion), fmt(row.delta))
            stdout().print(table)
        for change in record.signature_changes:
            typer.echo(f"signature: {change}", err=True)
        for note in record.notes:
            typer.echo(f"note: {note}")
    prefix = "[dry run] " if record.dry_run else ""
    version = f" v{record.candidate.version}" if record.candidate.version else ""
    aliases = ", ".join(f"{k} -> v{v}" for k, v in record.aliases.items())
    typer.echo(
        f"{prefix}{record.verdict}{version}: {record.message}"
        + (f" ({aliases})" if aliases else "")
        + (f"; record: {result.json_path}" if result.written else ""),
        err=json_out,  # with --json, stdout carries only the JSON
    )


def promote(
    ctx: typer.Context,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Candidate run \\[default: the last `mlops train`].",
            autocompletion=completion.run_ids,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and write the record; change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if a check fails (needs --reason).")
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Why: recorded on the version and in the record.")
    ] = "",
    json_out: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Promote the candidate to champion if it passes the gates and does not regress."""
    from mlops.promote import run_promotion

    if force and not reason.strip():
        raise typer.BadParameter("--force needs --reason TEXT", param_hint="--reason")
    opts = options(ctx)
    result = run_promotion(
        opts.project(), opts.store(), run_id, dry_run=dry_run, force=force, reason=reason
    )
    show_decision(result, json_out)
    if not result.record.accepted:
        raise typer.Exit(3)


def rollback(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Version or @alias to restore \\[default: @previous].",
            autocompletion=completion.model_refs,
        ),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded.")] = "",
    json_out: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Move `champion` back to `previous` (or --to VERSION) after checking that the model loads."""
    from mlops.promote import run_rollback

    opts = options(ctx)
    result = run_rollback(opts.project(), opts.store(), to, reason=reason)
    show_decision(result, json_out)


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _version_row(info: Any, primary: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    from mlops.tracking import tags

    created = datetime.fromtimestamp(info.created_ms / 1000, UTC).isoformat(timespec="seconds")
    return {
        "version": info.version,
        "aliases": list(info.aliases),
        primary: _number(info.tags.get(tags.metric(primary))),
        "created": created,
        "run_id": info.run_id,
        "git_commit": info.tags.get(tags.GIT_COMMIT),
        "verdict": info.tags.get(tags.VERDICT),
    }


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List versions with aliases, primary metric, created time, source run and git commit."""
    from mlops import registry
    from mlops.cli.state import fmt, print_json, stdout
    from mlops.evaluate import default_primary

    opts = options(ctx)
    project, store = opts.project(), opts.store()
    primary = project.params.gate.primary or default_primary(project.params.data.task)
    rows = [_version_row(info, primary) for info in registry.list_versions(store)]
    if json_out:
        print_json({"model": store.model_name, "versions": rows})
        return
    from rich.table import Table

    table = Table(title=f"Model {store.model_name}")
    for column in ("version", "aliases", primary, "created", "run", "git commit", "verdict"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["version"],
            ", ".join(row["aliases"]),
            fmt(row[primary]),
            row["created"][:16].replace("T", " "),  # to the minute, UTC (--json: seconds)
            (row["run_id"] or "-")[:8],  # short ids, as `mlops runs list` shows them
            (row["git_commit"] or "-")[:7],
            row["verdict"] or "-",
        )
    stdout().print(table)
    if not rows:
        typer.echo("no registered versions yet: run `mlops promote`", err=True)


@models_app.command("show")
def show_model(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help="VERSION or @ALIAS (e.g. 3 or @champion).", autocompletion=completion.model_refs
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show one version in full: aliases, tags, lineage, and its run's metrics."""
    from mlops import registry
    from mlops.cli.state import fmt, print_json, stdout

    store = options(ctx).store()
    info = registry.resolve(store, ref)
    aliases = next(
        (v.aliases for v in registry.list_versions(store) if v.version == info.version), ()
    )
    run = store.run_summary(info.run_id) if info.run_id else {}
    payload = {
        "name": info.name,
        "version": info.version,
        "aliases": list(aliases),
        "status": info.status,
        "source": info.source,
        "run_id": info.run_id,
        "tags": dict(info.tags),
        "run": run,
    }
    if json_out:
        print_json(payload)
        return
    from rich.table import Table

    table = Table(title=f"{info.name} v{info.version}", show_header=False)
    table.add_column("key")
    table.add_column("value")
    for key in ("aliases", "status", "source", "run_id"):
        value = payload[key]
        table.add_row(key, ", ".join(value) if isinstance(value, list) else fmt(value))
    for key, value in sorted(info.tags.items()):
        table.add_row(key, value)
    for key, value in sorted(run.get("metrics", {}).items()):
        table.add_row(f"run metric {key}", fmt(value))
    stdout().print(table)


PROMOTE_EXAMPLES = """\b\nExamples:
  mlops promote                   # the last `mlops train`, if it passes
  mlops promote --dry-run --json  # decide and record, change nothing
  mlops promote --run-id RUN_ID --force --reason "gate waived: new labels"
  mlops rollback --reason "bad predictions"   # champion back to previous"""


def register(app: typer.Typer) -> None:
    app.command("promote", rich_help_panel=PANEL, epilog=PROMOTE_EXAMPLES)(promote)
    app.command("rollback", rich_help_panel=PANEL)(rollback)
    app.add_typer(models_app, name="models", rich_help_panel=PANEL)
