"""The HTML report is one self-contained file: no scripts, no external resources, every column."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from mlops.drift import render_html

from .test_drift_columns import RNG, compare, labels, normal


def test_html_is_self_contained_small_and_shows_every_column(tmp_path: Path) -> None:
    n = 1_500
    ref = {f"num_{i}": normal(n) for i in range(6)}
    ref |= {"colour <b>&": labels(n, ["red", "green"]), "gone": normal(n)}
    cur = {f"num_{i}": normal(n, 0.4 if i < 2 else 0.0) for i in range(6)}
    cur |= {"colour <b>&": labels(n, ["red", "green", "<script>"]), "new": normal(n)}
    report = compare(tmp_path, ref, cur)
    page = render_html(report)

    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    assert "<script" not in lowered  # the category "<script>" is escaped
    assert not re.search(r"https?://", lowered)
    assert not re.search(r"\b(src|href)\s*=\s*[\"'](?!#)", lowered)  # only in-page anchors
    assert "@import" not in lowered and "url(" not in lowered
    for column in report.columns:
        assert f'id="col-{html.escape(column.column)}"' in page
    assert html.escape("colour <b>&") in page and "colour <b>&" not in page
    tested = [c for c in report.columns if c.histogram is not None]
    assert page.count("<svg") == len(tested) == 7
    assert len(page.encode()) < 200_000


def test_cards_follow_severity_order(tmp_path: Path) -> None:
    ref = {"calm": normal(500), "wild": normal(500), "mild": normal(500)}
    cur = {"calm": normal(500), "wild": normal(500, 2.0), "mild": normal(500, 0.6)}
    page = render_html(compare(tmp_path, ref, cur))
    positions = [page.index(f'class="card" id="col-{name}"') for name in ("wild", "mild", "calm")]
    assert positions == sorted(positions)
    assert np.isfinite(len(page))


def _axis_labels(page: str) -> list[tuple[float, str]]:
    """The y-axis labels: right-aligned texts left of the plot."""
    return [
        (float(x), text)
        for x, text in re.findall(
            r'<text x="([\d.]+)" y="[\d.]+" text-anchor="end">([^<]*)</text>', page
        )
        if text.endswith("%") or text == "0"
    ]


def test_the_100_percent_axis_label_fits_left_of_the_plot(tmp_path: Path) -> None:
    # One category on each side: the top of the axis is 100.0%.
    ref = {"only": ["a"] * 200, "x": normal(200)}
    cur = {"only": ["a"] * 200, "x": normal(200)}
    page = render_html(compare(tmp_path, ref, cur))
    labels = _axis_labels(page)
    assert "100.0%" in [text for _, text in labels]
    for x, text in labels:
        assert x >= 6 * len(text), (x, text)  # 10 px text: about 6 px a character


def test_the_wasserstein_card_says_its_number_once(tmp_path: Path) -> None:
    report = compare(tmp_path, {"x": normal(2_000)}, {"x": normal(2_000, 0.5)})
    (x,) = report.columns
    assert x.method == "wasserstein"
    card = render_html(report).split('id="col-x"')[1]
    assert card.count("Wasserstein distance / reference std =") == 1


def test_disjoint_ranges_are_drawn_on_their_own_axes(tmp_path: Path) -> None:
    ref = {"wage": RNG.lognormal(1.0, 0.5, 500)}  # about 1..8
    cur = {"wage": 1_000 + RNG.lognormal(1.0, 0.5, 500)}  # about 1001..1008
    report = compare(tmp_path, ref, cur)
    hist = report.columns[0].histogram
    assert hist is not None and hist.axes == "separate"
    assert len(hist.labels) == len(hist.current_labels) == 24
    # On its own axis the reference's shape shows: no single bin holds most of it.
    assert max(hist.reference) < 0.5 and max(hist.current) < 0.5
    assert float(hist.labels[-1].split(" to ")[1]) < 20 < float(hist.current_labels[0].split()[0])
    page = render_html(report)
    assert "reference (own axis)" in page and "current (own axis" in page
    overlapping = compare(tmp_path, {"x": normal(500)}, {"x": normal(500, 1.0)}).columns[0]
    assert overlapping.histogram is not None and overlapping.histogram.axes == "shared"


def test_an_all_missing_column_is_the_first_card(tmp_path: Path) -> None:
    ref = {"calm": normal(500), "wild": normal(500), "gone": normal(500)}
    cur = {"calm": normal(500), "wild": normal(500, 2.0), "gone": np.full(500, np.nan)}
    report = compare(tmp_path, ref, cur)
    assert [c.column for c in report.columns] == ["gone", "wild", "calm"]
    page = render_html(report)
    positions = [page.index(f'class="card" id="col-{name}"') for name in ("gone", "wild", "calm")]
    assert positions == sorted(positions)
    assert "all 500 current values are missing" in page


def test_vanished_categories_are_in_the_table_the_card_and_the_chart(tmp_path: Path) -> None:
    ref = {"c": labels(600, ["a", "b", "c"])}
    cur = {"c": labels(600, ["a", "b"])}
    report = compare(tmp_path, ref, cur)
    (c,) = report.columns
    assert (c.vanished_categories, c.vanished_count, c.unseen_count) == (["c"], 1, 0)
    assert c.histogram is not None and c.histogram.vanished == [False, False, True]
    page = render_html(report)
    assert "<th>vanished</th>" in page
    assert "1 vanished category" in page
    assert 'class="vanished" style="fill:#2c6e9b">c</text>' in page
