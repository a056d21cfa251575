"""Report details of the issue-14 verdicts that the CLI tests do not reach."""

from __future__ import annotations

import json
from pathlib import Path

from mlops.config import DataParams
from mlops.drift import build_report, open_table, render_html
from mlops.project import Project

from .test_drift_columns import labels, make_project, make_store, write


def test_vanished_labels_of_a_kept_personal_column_are_redacted(tmp_path: Path) -> None:
    base = make_project(tmp_path)
    data = DataParams(source="source.csv", target="y", pii={"surname": "keep"})
    params = base.params.model_copy(update={"data": data})
    project = Project(root=tmp_path, config=base.config.model_copy(update={"params": params}))
    ref = {"surname": labels(400, ["Smith", "Jones", "Okafor"]), "y": labels(400, ["a", "b"])}
    cur = {"surname": labels(400, ["Smith", "Jones"]), "y": labels(400, ["a", "b"])}
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.parquet", cur)),
    )
    (surname,) = report.columns
    assert surname.vanished_count == 1
    assert surname.vanished_categories == ["<redacted>#1"]
    shown = json.dumps(report.to_json()) + render_html(report)
    assert "Okafor" not in shown


def test_an_unlabelled_batch_is_no_target_drift(tmp_path: Path) -> None:
    data = DataParams(source="source.csv", target="y")
    base = make_project(tmp_path)
    params = base.params.model_copy(update={"data": data})
    project = Project(root=tmp_path, config=base.config.model_copy(update={"params": params}))
    ref = {"x": labels(300, ["a", "b"]), "y": labels(300, ["yes", "no"])}
    cur = {"x": labels(300, ["a", "b"]), "y": [None] * 300}  # labels arrive later
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.parquet", cur)),
    )
    assert report.target is not None and report.target.verdict == "insufficient_data"
    assert report.summary.target_drift is None and report.verdict == "no_drift"


def test_own_axis_bin_edges_of_a_kept_personal_column_are_redacted(tmp_path: Path) -> None:
    import numpy as np

    base = make_project(tmp_path)
    data = DataParams(source="source.csv", target="y", pii={"income": "keep"})
    params = base.params.model_copy(update={"data": data})
    project = Project(root=tmp_path, config=base.config.model_copy(update={"params": params}))
    rng = np.random.default_rng(1)
    ref = {"income": rng.normal(31_337, 10, 400), "y": labels(400, ["a", "b"])}
    cur = {"income": rng.normal(91_337, 10, 400), "y": labels(400, ["a", "b"])}
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.parquet", cur)),
    )
    (income,) = report.columns
    assert income.histogram is not None and income.histogram.axes == "separate"
    assert all(label.startswith("<redacted>") for label in income.histogram.current_labels)
    assert " to " not in json.dumps(income.histogram.model_dump())  # no bin edge left
    svg = render_html(report).split('id="col-income"')[1]  # renders (edges or not)
    assert "<svg" in svg and " to " not in svg.split("<svg")[1]
