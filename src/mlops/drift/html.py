"""A self-contained HTML drift report: inline CSS and SVG, no scripts, no external resources."""

from __future__ import annotations

import html
from collections.abc import Sequence

from mlops.drift.report import ColumnDrift, DriftReport, Histogram

REF_COLOUR = "#4c78a8"
CUR_COLOUR = "#f58518"
WIDTH = 560
PANEL_HEIGHT = 150
PAD_BOTTOM = 34
PAD_TOP = 8
#: Room left of the plot for the y-axis labels, "100.0%" included.
PAD_LEFT = 52
PAD_RIGHT = 6
FLAG_COLOURS = {"flag": "#c0392b", "vanished": "#2c6e9b"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
color:#fff;vertical-align:middle}
.drift{background:#c0392b}.no_drift{background:#27ae60}.insufficient_data{background:#7f8c8d}
.schema_mismatch{background:#8e44ad}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:12px 14px;margin:12px 0}
.card p{margin:4px 0;color:#444}.muted{color:#777}.flag{color:#c0392b;font-weight:600}
.vanished{color:#2c6e9b;font-weight:600}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}dt{color:#666}
dd{margin:0}svg text{font-size:10px;fill:#555}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _badge(verdict: str) -> str:
    return f'<span class="badge {_e(verdict)}">{_e(verdict.replace("_", " "))}</span>'


Series = tuple[list[float], str, str]  # shares, colour, side name


def _panel(
    top_y: float,
    labels: Sequence[str],
    series: Sequence[Series],
    kind: str,
    flags: Sequence[str],
    title: str = "",
) -> list[str]:
    """One plot of paired (or single) bars per bin or category, `PANEL_HEIGHT` tall."""
    count = len(labels)
    top = max([*(v for shares, _, _ in series for v in shares), 1e-12])
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = PANEL_HEIGHT - PAD_BOTTOM - PAD_TOP
    base = top_y + PAD_TOP + plot_h
    slot = plot_w / max(count, 1)
    bar = max(1.0, slot * 0.8 / len(series))
    parts = [
        f'<line x1="{PAD_LEFT}" y1="{base:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{base:.1f}" '
        'stroke="#999"/>',
        # The axis labels end PAD_LEFT - 4 px in: room for "100.0%" (about 6 px a character).
        f'<text x="{PAD_LEFT - 4}" y="{top_y + PAD_TOP + 6:.1f}" text-anchor="end">'
        f"{_pct(top)}</text>",
        f'<text x="{PAD_LEFT - 4}" y="{base:.1f}" text-anchor="end">0</text>',
    ]
    if title:
        parts.append(f'<text x="{PAD_LEFT + 4}" y="{top_y + PAD_TOP + 6:.1f}">{_e(title)}</text>')
    for i, label in enumerate(labels):
        x = PAD_LEFT + i * slot + slot * 0.1
        for j, (shares, colour, side) in enumerate(series):
            share = shares[i] if i < len(shares) else 0.0
            height = plot_h * share / top
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{base - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{_e(label)}: {side} '
                f"{_pct(share)}</title></rect>"
            )
        if kind == "categories" or i in (0, count - 1):
            edges = label.split(" to ")  # a redacted label has no edges
            text = label if kind == "categories" else edges[0 if i == 0 else -1]
            fits = max(3, int(slot / 6)) if kind == "categories" else 14  # ~6 px a letter
            short = text if len(text) <= fits else text[: fits - 1] + "…"
            flag = flags[i] if i < len(flags) else ""
            style = f' class="{flag}" style="fill:{FLAG_COLOURS[flag]}"' if flag else ""
            anchor = "middle" if kind == "categories" else ("start" if i == 0 else "end")
            width = bar * len(series)
            tx = x + width / 2 if kind == "categories" else (x if i == 0 else x + width)
            parts.append(
                f'<text x="{tx:.1f}" y="{base + 20:.1f}" text-anchor="{anchor}"{style}>'
                f"{_e(short)}</text>"
            )
    return parts


def histogram_svg(hist: Histogram) -> str:
    """Paired bars (reference, current) per bin or category, with hover titles; two panels,
    each on its own axis, when the two ranges barely overlap."""
    flags = [
        "flag"
        if (i < len(hist.unseen) and hist.unseen[i])
        else "vanished"
        if (i < len(hist.vanished) and hist.vanished[i])
        else ""
        for i in range(len(hist.labels))
    ]
    if hist.axes == "separate":
        height = 2 * PANEL_HEIGHT
        parts = [
            *_panel(0, hist.labels, [(hist.reference, REF_COLOUR, "reference")], hist.kind, [],
                    "reference (own axis)"),
            *_panel(PANEL_HEIGHT, hist.current_labels, [(hist.current, CUR_COLOUR, "current")],
                    hist.kind, [], "current (own axis: the ranges barely overlap)"),
        ]  # fmt: skip
    else:
        height = PANEL_HEIGHT
        series = [(hist.reference, REF_COLOUR, "reference"), (hist.current, CUR_COLOUR, "current")]
        parts = _panel(0, hist.labels, series, hist.kind, flags)
    return (
        f'<svg role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">'
        + "".join(parts)
        + "</svg>"
    )


def _p_cell(column: ColumnDrift) -> str:
    if column.p_value is None:
        return "-"
    if column.p_value_adjusted is None:
        return _num(column.p_value, 3)
    return f"{_num(column.p_value, 3)} / {_num(column.p_value_adjusted, 3)}"


def _table(columns: Sequence[ColumnDrift]) -> str:
    head = (
        "<tr><th>column</th><th>verdict</th><th>method</th><th>statistic</th>"
        "<th>p / adjusted</th><th>threshold</th><th>effect size</th><th>missing ref → cur</th>"
        "<th>unseen</th><th>vanished</th></tr>"
    )
    rows = []
    for c in columns:
        missing = f"{_pct(c.reference.missing_rate)} → {_pct(c.current.missing_rate)}"
        if c.missing_shift:
            missing = f'<span class="flag">{missing}</span>'
        rows.append(
            f'<tr><td><a href="#col-{_e(c.column)}">{_e(c.column)}</a></td>'
            f"<td>{_badge(c.verdict)}</td><td>{_e(c.method or '-')}</td>"
            f'<td class="num">{_num(c.statistic)}</td><td class="num">{_p_cell(c)}</td>'
            f'<td class="num">{_num(c.threshold)}</td><td class="num">{_num(c.effect_size)}</td>'
            f'<td class="num">{missing}</td><td class="num">{c.unseen_count or ""}</td>'
            f'<td class="num">{c.vanished_count or ""}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _card(c: ColumnDrift) -> str:
    lines = [
        f'<div class="card" id="col-{_e(c.column)}"><h3>{_e(c.column)} {_badge(c.verdict)} '
        f'<span class="muted">{_e(c.kind)}, {_e(c.role)}</span></h3>',
        f"<p>{_e(c.reason)}</p>",
    ]
    if c.method:
        numbers = f"{_e(c.statistic_name)} = {_num(c.statistic)}"
        if c.effect_size_name != c.statistic_name:  # Wasserstein: the statistic is the effect
            numbers += f"; {_e(c.effect_size_name)} = {_num(c.effect_size)}"
        lines.append(f'<p>{numbers}. <span class="muted">{_e(c.method_reason)}</span></p>')
    ref, cur = c.reference, c.current
    lines.append(
        f"<p>reference: {ref.rows:,} rows, {_pct(ref.missing_rate)} missing"
        f"{'' if ref.mean is None else f', mean {_num(ref.mean)}, std {_num(ref.std)}'}; "
        f"current: {cur.rows:,} rows, {_pct(cur.missing_rate)} missing"
        f"{'' if cur.mean is None else f', mean {_num(cur.mean)}, std {_num(cur.std)}'}</p>"
    )
    if c.missing_shift:
        lines.append(
            f'<p class="flag">missing-value rate changed by {c.missing_rate_change:+.1%}</p>'
        )
    if c.unseen_count:
        names = ", ".join(c.unseen_categories)
        more = (
            f" and {c.unseen_count - len(c.unseen_categories)} more"
            if c.unseen_count > len(c.unseen_categories)
            else ""
        )
        lines.append(
            f'<p class="flag">{c.unseen_count} unseen categor{"y" if c.unseen_count == 1 else "ies"}'
            f" ({_pct(c.unseen_share)} of current rows): {_e(names)}{more}</p>"
        )
    if c.vanished_count:
        names = ", ".join(c.vanished_categories)
        hidden = c.vanished_count - len(c.vanished_categories)
        more = f" and {hidden} more" if hidden > 0 else ""
        noun = "category" if c.vanished_count == 1 else "categories"
        lines.append(
            f'<p class="vanished">{c.vanished_count} vanished {noun} '
            f"({_pct(c.vanished_share)} of reference rows): {_e(names)}{more}</p>"
        )
    if c.histogram is not None:
        lines.append(histogram_svg(c.histogram))
    lines.append("</div>")
    return "".join(lines)


def _section(title: str, columns: Sequence[ColumnDrift], note: str = "") -> str:
    if not columns and not note:
        return ""
    parts = [f"<h2>{_e(title)}</h2>"]
    if note:
        parts.append(f'<p class="muted">{_e(note)}</p>')
    if columns:
        parts.append(_table(columns))
        parts.extend(_card(c) for c in columns)
    return "".join(parts)


def render_html(report: DriftReport) -> str:
    """The whole report as one HTML document that opens offline."""
    s = report.summary
    ref, cur = report.reference, report.current
    settings = report.settings
    header = (
        f"<h1>Data drift {_badge(report.verdict)}</h1>"
        f"<p>{_e('; '.join(report.reasons))}</p>"
        "<dl>"
        f"<dt>reference</dt><dd>{_e(ref.path)} ({ref.rows:,} rows) — {_e(ref.origin_reason)}</dd>"
        f"<dt>current</dt><dd>{_e(cur.path)} ({cur.rows:,} rows) — {_e(cur.origin_reason)}</dd>"
        f"<dt>columns</dt><dd>{s.drifted} of {s.tested} tested drifted ({_pct(s.share_drifted)};"
        f" dataset drift at {_pct(s.share_threshold)}); {s.insufficient_data} insufficient data,"
        f" {s.schema_mismatch} schema mismatch, {s.missing_shift} missing-rate shift,"
        f" {s.unseen_categories} with unseen categories, {s.vanished_categories} with vanished"
        f" categories, {s.all_missing} all missing on one side</dd>"
        f"<dt>settings</dt><dd>alpha {_e(settings.get('alpha'))} "
        f"({_e(settings.get('correction'))} correction), large_sample "
        f"{_e(settings.get('large_sample'))}, min_rows {_e(settings.get('min_rows'))}, critical: "
        f"{_e(', '.join(settings.get('critical') or []) or 'none')}</dd>"
        f"<dt>time</dt><dd>{s.seconds:.2f} s</dd></dl>"
        f'<p class="legend"><span style="background:{REF_COLOUR}"></span>reference'
        f'<span style="background:{CUR_COLOUR}"></span>current</p>'
    )
    body = [
        header,
        _section("Columns (most severe first)", report.columns),
        _section("Target", [report.target] if report.target else [], report.target_note),
        _section("Predictions", report.prediction, report.prediction_note),
    ]
    if report.ignored:
        items = "".join(f"<li>{_e(i.column)}: {_e(i.reason)}</li>" for i in report.ignored)
        body.append(f"<h2>Not compared</h2><ul>{items}</ul>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Drift report: {_e(report.verdict)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
