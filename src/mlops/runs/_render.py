"""A comparison as plain text, GitHub-flavoured Markdown (PR comments, job summaries) or a
self-contained HTML page with the runs' plots side by side (PNG artifacts inlined)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence

from mlops.runs._common import NONE, number, signed, table, versions_text
from mlops.runs._compare import Comparison, dataset_rows

#: PNG artifacts larger than this are listed, not inlined.
MAX_INLINE_BYTES = 5 * 1024 * 1024


def _cell(value: str | None) -> str:
    return NONE if value is None else value


def _metric_cells(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    refs = [side.ref for side in comparison.sides]
    others = refs[:-1]
    headers = ["metric", *refs, *[f"Δ {ref}" for ref in others]]
    rows = []
    for row in comparison.metrics:
        arrow = {True: " ↑", False: " ↓", None: ""}[row.higher_is_better]
        rows.append(
            [
                f"{row.name}{arrow}",
                *[number(v) for v in row.values],
                *[signed(d) for d in row.deltas[:-1]],
            ]
        )
    return headers, rows


def _sections(comparison: Comparison) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every table, shared by text, Markdown and HTML."""
    refs = [side.ref for side in comparison.sides]
    base = comparison.baseline.ref
    headers, rows = _metric_cells(comparison)
    sections = [
        (f"Metrics (Δ = run - baseline {base}; ↑ higher is better, ↓ lower)", headers, rows)
    ]
    sections.append(
        (
            "Params that differ",
            ["param", *refs],
            [[key, *[_cell(v) for v in values]] for key, values in comparison.params.items()],
        )
    )
    sections.append(
        (
            "Gate thresholds",
            ["param", *refs],
            [[key, *[_cell(v) for v in values]] for key, values in comparison.gate.items()],
        )
    )
    sections.append(
        (
            "Dataset digests",
            ["dataset", *refs],
            [[key, *values] for key, values in dataset_rows(comparison)],
        )
    )
    drift = []
    for side in comparison.sides:
        found = side.drift()
        if found is None:
            drift.append(NONE)
        else:
            parts = [f"{k}={number(v)}" for k, v in found["metrics"].items()]
            parts += list(found["artifacts"])
            drift.append(", ".join(parts))
    sections.append(("Drift", ["", *refs], [["drift", *drift]]))
    return sections


def _runs_rows(comparison: Comparison) -> list[list[str]]:
    return [
        [
            side.ref,
            side.record.run_id,
            side.record.name or NONE,
            side.record.status.lower(),
            versions_text(side.versions),
        ]
        for side in comparison.sides
    ]


_RUN_HEADERS = ["ref", "run", "name", "status", "registered"]


def to_text(comparison: Comparison) -> str:
    mark = "ok" if comparison.verdict.passed else "REGRESSION"
    out = [table(_RUN_HEADERS, _runs_rows(comparison)), f"verdict: {mark}: "]
    out[-1] += comparison.verdict_text() + "\n"
    for title, headers, rows in _sections(comparison):
        out.append(f"\n{title}:\n")
        out.append(table(headers, rows) if rows else f"  {NONE}\n")
    out.append("\nArtifacts:\n")
    for side in comparison.sides:
        out.append(f"  {side.ref}: {', '.join(side.artifacts) or NONE}\n")
    return "".join(out)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: bool = False) -> str:
    """A Markdown table; `numeric`: every column but the first right-aligned."""
    align = " ---: " if numeric else " --- "
    lines = [
        "| " + " | ".join(_md_escape(h) for h in headers) + " |",
        "|" + "|".join(" --- " if i == 0 else align for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_markdown(comparison: Comparison) -> str:
    """GitHub-flavoured Markdown: a heading, a one-line verdict, then the tables (the long ones
    folded in `<details>`)."""
    refs = " vs ".join(side.ref for side in comparison.sides)
    icon = "✅" if comparison.verdict.passed else "❌"
    out = [
        f"### mlops: {_md_escape(refs)}\n\n",
        f"{icon} **{_md_escape(comparison.verdict_text())}**\n\n",
        _md_table(["ref", "run", "name", "status", "registered"], _runs_rows(comparison)),
    ]
    for index, (title, headers, rows) in enumerate(_sections(comparison)):
        body = _md_table(headers, rows, numeric=index == 0) if rows else f"{NONE}\n"
        if index == 0:
            out.append(f"\n**{title}**\n\n{body}")
        else:
            out.append(
                f"\n<details><summary>{html.escape(title)} ({len(rows)})</summary>\n\n{body}\n"
                "</details>\n"
            )
    return "".join(out)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(
    comparison: Comparison,
    read: Callable[[int, str], bytes],
    size: Callable[[int, str], int | None],
) -> str:
    """A self-contained page; `read(side_index, path)` returns an artifact's bytes, `size(...)`
    its size, asked first (PNGs up to `MAX_INLINE_BYTES` are inlined as base64, side by side,
    one column per run; larger ones are only named, never read)."""
    refs = [side.ref for side in comparison.sides]
    title = "mlops: " + " vs ".join(refs)
    icon = "✅" if comparison.verdict.passed else "❌"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;"
        "vertical-align:top}th{background:#f4f4f4}img{max-width:100%}.plots td{width:"
        f"{100 // max(1, len(refs))}%}}",
        "</style></head><body>",
        f"<h2>{html.escape(title)}</h2>",
        f"<p><b>{icon} {html.escape(comparison.verdict_text())}</b></p>",
        _html_table(_RUN_HEADERS, _runs_rows(comparison)),
    ]
    for heading, headers, rows in _sections(comparison):
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append(_html_table(headers, rows) if rows else f"<p>{NONE}</p>")
    pngs = sorted({a for side in comparison.sides for a in side.artifacts if a.endswith(".png")})
    parts.append("<h3>Plots</h3>")
    if not pngs:
        parts.append(f"<p>{NONE} (no PNG artifacts)</p>")
    for path in pngs:
        parts.append(f"<h4>{html.escape(path)}</h4><table class='plots'><tr>")
        parts += [f"<th>{html.escape(ref)}</th>" for ref in refs]
        parts.append("</tr><tr>")
        for index, side in enumerate(comparison.sides):
            parts.append(
                f"<td>{_image(read, size, index, path) if path in side.artifacts else NONE}</td>"
            )
        parts.append("</tr></table>")
    parts.append("<h3>Artifacts</h3>")
    parts.append(
        _html_table(
            ["ref", "artifacts"],
            [[s.ref, ", ".join(s.artifacts) or NONE] for s in comparison.sides],
        )
    )
    parts.append("</body></html>\n")
    return "".join(parts)


def _image(
    read: Callable[[int, str], bytes],
    size: Callable[[int, str], int | None],
    index: int,
    path: str,
) -> str:
    try:
        known = size(index, path)
        if known is not None and known > MAX_INLINE_BYTES:
            return html.escape(f"{path}: {known} bytes, not inlined")
        data = read(index, path)
    except OSError as exc:
        return html.escape(f"{path}: {exc.strerror or exc}")
    if len(data) > MAX_INLINE_BYTES:  # the store did not say how large: read, then judged
        return html.escape(f"{path}: {len(data)} bytes, not inlined")
    encoded = base64.b64encode(data).decode("ascii")
    return f"<img alt='{html.escape(path)}' src='data:image/png;base64,{encoded}'>"
