"""The HTML report is one self-contained file: no scripts, no external resources, every column."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from mlops.drift import render_html

from .test_drift_columns import compare, labels, normal


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
