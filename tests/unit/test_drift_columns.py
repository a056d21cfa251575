"""Per-column verdicts: method choice, edge cases, missing values, categories, the dataset rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from scipy import stats as sps
from scipy.spatial import distance

from mlops.config import (
    Config,
    DataParams,
    DriftParams,
    Params,
    PathSettings,
    Settings,
    TrackingSettings,
)
from mlops.drift import ColumnDrift, DriftReport, build_report, open_table
from mlops.errors import ConfigError, DataError
from mlops.project import Project
from mlops.tracking import Store


def make_project(root: Path, **drift: Any) -> Project:
    """A project rooted at `root` (where the tests build reports), its paths resolved as
    `open_project` resolves them: absolute under the root."""
    paths = PathSettings(schema_file=Path("no-schema.json"), train=Path("train.parquet"))
    config = Config(
        params=Params(drift=DriftParams(**drift)),
        settings=Settings(paths=paths),
        params_path=root / "params.yaml",
        config_path=root / "local.yaml",
    )
    # model_copy skips validation, which refuses absolute paths in what users write.
    absolute = paths.model_copy(
        update={name: root / getattr(paths, name) for name in type(paths).model_fields}
    )
    settings = config.settings.model_copy(update={"paths": absolute})
    return Project(root=root, config=config.model_copy(update={"settings": settings}))


def make_store(root: Path) -> Store:
    """The project's store: never connected here (no champion, so no prediction drift)."""
    return Store(TrackingSettings(), root=root)


def write(path: Path, columns: dict[str, Any]) -> Path:
    table = pa.table(columns)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def compare(tmp_path: Path, ref: dict[str, Any], cur: dict[str, Any], **drift: Any) -> DriftReport:
    reference = write(tmp_path / "reference.parquet", ref)
    current = write(tmp_path / "current.parquet", cur)
    return build_report(
        make_project(tmp_path, **drift),
        make_store(tmp_path),
        open_table(reference),
        open_table(current),
    )


def strict_json(report: DriftReport) -> dict[str, Any]:
    """The report as JSON, failing on NaN or infinity anywhere."""

    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite number {token} in the report")

    parsed: dict[str, Any] = json.loads(json.dumps(report.to_json()), parse_constant=refuse)
    return parsed


def column(report: DriftReport, name: str) -> ColumnDrift:
    return next(c for c in report.all_columns() if c.column == name)


RNG = np.random.default_rng(2024)


def normal(n: int, mean: float = 0.0) -> np.ndarray:
    return RNG.normal(mean, 1.0, n)


def labels(n: int, values: list[str], p: list[float] | None = None) -> list[str]:
    return list(RNG.choice(values, size=n, p=p))


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("rows", "numeric", "categorical"),
    [(500, "ks", "chisquare"), (2_000, "wasserstein", "jensenshannon")],
)
def test_auto_methods_follow_evidently_by_reference_size(
    tmp_path: Path, rows: int, numeric: str, categorical: str
) -> None:
    data = {"x": normal(rows), "c": labels(rows, ["a", "b", "c"]), "few": RNG.integers(0, 3, rows)}
    report = compare(tmp_path, data, data)
    assert column(report, "x").method == numeric
    assert column(report, "c").method == categorical
    few = column(report, "few")
    assert few.method == categorical  # 3 distinct values: compared as categories
    assert "few_unique" in few.method_reason
    assert f"{rows:,} reference values" in column(report, "x").method_reason
    assert all(c.verdict == "no_drift" for c in report.columns)  # identical data


def test_methods_and_thresholds_from_params(tmp_path: Path) -> None:
    ref = {"x": normal(800), "y": normal(800), "c": labels(800, ["a", "b"])}
    cur = {"x": normal(800, 0.3), "y": normal(800, 0.3), "c": labels(800, ["a", "b"], [0.3, 0.7])}
    report = compare(
        tmp_path,
        ref,
        cur,
        numeric_method="psi",
        categorical_method="jensenshannon",
        columns={"y": "wasserstein"},
        thresholds={"psi": 5.0},
        column_thresholds={"y": 0.05},
    )
    x, y, c = column(report, "x"), column(report, "y"), column(report, "c")
    assert (x.method, x.threshold, x.verdict) == ("psi", 5.0, "no_drift")
    assert x.method_reason == "drift.numeric_method: psi"
    assert (y.method, y.threshold, y.verdict) == ("wasserstein", 0.05, "drift")
    assert y.method_reason == "drift.columns.y: wasserstein"
    assert (c.method, c.threshold) == ("jensenshannon", 0.1)


def test_a_numeric_method_on_a_categorical_column_is_a_config_error(tmp_path: Path) -> None:
    data = {"c": labels(100, ["a", "b"])}
    with pytest.raises(ConfigError, match=r"drift.columns.c: ks needs a numeric column"):
        compare(tmp_path, data, data, columns={"c": "ks"})


def test_reported_statistics_match_scipy(tmp_path: Path) -> None:
    ref = {"x": normal(3_000), "c": labels(3_000, ["a", "b", "c", "d"])}
    cur = {"x": normal(2_500, 0.2), "c": labels(2_500, ["a", "b", "c", "d"], [0.1, 0.2, 0.3, 0.4])}
    report = compare(tmp_path, ref, cur)
    x = column(report, "x")
    expected = sps.wasserstein_distance(ref["x"], cur["x"]) / np.std(ref["x"])
    assert x.statistic == pytest.approx(expected, abs=1e-9)
    assert x.effect_size == pytest.approx(expected, abs=1e-9)
    c = column(report, "c")
    names = ["a", "b", "c", "d"]
    ref_share = [ref["c"].count(k) for k in names]
    cur_share = [cur["c"].count(k) for k in names]
    assert c.statistic == pytest.approx(distance.jensenshannon(ref_share, cur_share), abs=1e-9)
    small = compare(tmp_path, {k: v[:400] for k, v in ref.items()}, cur)
    x_small = column(small, "x")
    ks = sps.ks_2samp(ref["x"][:400], cur["x"])
    assert x_small.statistic == pytest.approx(ks.statistic, abs=1e-9)
    assert x_small.p_value == pytest.approx(ks.pvalue, abs=1e-9)
    c_small = column(small, "c")
    table = np.array([[ref["c"][:400].count(k) for k in names], cur_share])
    chi = sps.chi2_contingency(table)
    assert c_small.statistic == pytest.approx(chi.statistic, abs=1e-9)
    assert c_small.p_value == pytest.approx(chi.pvalue, abs=1e-9)


# --------------------------------------------------------------------------- edge cases


def test_every_edge_case_gets_an_explicit_verdict_and_no_nan(tmp_path: Path) -> None:
    n = 200
    nan = np.full(n, np.nan)
    ref = {
        "all_nan": nan,
        "constant": np.full(n, 7.0),
        "constant_moves": np.full(n, 1.0),
        "only_in_reference": normal(n),
        "dtype_changes": normal(n),
        "null_typed": pa.nulls(n, pa.null()),
        "fine": normal(n),
        "when": pa.array(np.arange(n).astype("datetime64[s]")),
        "user_id": [f"u{i}" for i in range(n)],
    }
    cur = {
        "all_nan": nan,
        "constant": np.full(n, 7.0),
        "constant_moves": np.full(n, 2.0),
        "dtype_changes": [str(v) for v in normal(n)],
        "only_in_current": normal(n),
        "null_typed": normal(n),
        "fine": normal(n),
        "when": pa.array(np.arange(n).astype("datetime64[s]")),
        "user_id": [f"w{i}" for i in range(n)],
    }
    report = compare(tmp_path, ref, cur)
    payload = strict_json(report)
    verdicts = {c.column: c.verdict for c in report.columns}
    assert verdicts == {
        "all_nan": "insufficient_data",
        "constant": "no_drift",
        "constant_moves": "drift",
        "only_in_reference": "schema_mismatch",
        "only_in_current": "schema_mismatch",
        "dtype_changes": "schema_mismatch",
        "null_typed": "drift",  # no value in the reference, 200 in the current
        "fine": "no_drift",
    }
    null_typed = column(report, "null_typed")
    assert null_typed.all_missing and null_typed.reason.startswith("all 200 reference values")
    assert column(report, "only_in_reference").reason == "missing from the current data"
    assert "(numeric)" in column(report, "dtype_changes").reason
    assert "(categorical)" in column(report, "dtype_changes").reason
    assert {i.column for i in report.ignored} == {"when", "user_id"}
    assert column(report, "all_nan").reference.missing_rate == 1.0
    for item in payload["columns"]:
        assert item["verdict"] in ("drift", "no_drift", "insufficient_data", "schema_mismatch")
    assert payload["summary"]["schema_mismatch"] == 3
    assert payload["summary"]["insufficient_data"] == 1


def test_tiny_and_empty_data_is_insufficient_not_nan(tmp_path: Path) -> None:
    ref = {"x": normal(10), "c": labels(10, ["a", "b"])}
    empty = {"x": pa.array([], pa.float64()), "c": pa.array([], pa.string())}
    report = compare(tmp_path, ref, empty)
    assert report.verdict == "insufficient_data"
    assert {c.verdict for c in report.columns} == {"insufficient_data"}
    payload = strict_json(report)
    assert payload["summary"]["share_drifted"] == 0.0
    assert payload["current"]["rows"] == 0
    tiny = compare(tmp_path, ref, ref)
    assert {c.verdict for c in tiny.columns} == {"insufficient_data"}
    assert "min_rows 30" in column(tiny, "x").reason


def test_missing_rate_change_is_reported_separately_from_the_distribution(tmp_path: Path) -> None:
    values = normal(2_000)
    holes = values.copy()
    holes[:600] = np.nan  # the same law, 30% missing
    report = compare(tmp_path, {"x": values[1000:], "c": labels(1000, ["a", "b"])},
                     {"x": holes[:1000], "c": [None] * 300 + labels(700, ["a", "b"])})  # fmt: skip
    x, c = column(report, "x"), column(report, "c")
    assert x.missing_shift and x.missing_rate_change == pytest.approx(0.6)
    assert c.missing_shift and c.current.missing == 300
    assert x.verdict == "no_drift" and c.verdict == "no_drift"
    assert report.summary.missing_shift == 2


def test_unseen_categories_are_listed_by_name(tmp_path: Path) -> None:
    ref = {"c": labels(500, ["a", "b", "c"]), "n": RNG.integers(0, 3, 500)}
    cur_c = labels(400, ["a", "b", "c"]) + ["zeta"] * 60 + ["eta"] * 40
    cur = {"c": cur_c, "n": np.r_[RNG.integers(0, 3, 480), np.full(20, 3)]}
    report = compare(tmp_path, ref, cur)
    c = column(report, "c")
    assert c.unseen_categories == ["zeta", "eta"]  # most frequent first
    assert c.unseen_count == 2 and c.unseen_share == pytest.approx(0.2)
    assert c.verdict == "drift"
    assert column(report, "n").unseen_categories == ["3"]
    assert report.summary.unseen_categories == 2


# --------------------------------------------------------------------------- dataset verdict


def _ks_case() -> tuple[dict[str, Any], dict[str, Any], float]:
    """Ten KS columns: one with raw p just under 0.05, nine identical."""
    base = np.arange(100.0)
    ref = {f"x{i}": base for i in range(10)}
    cur = {**ref, "x0": base + 20}
    return ref, cur, float(sps.ks_2samp(base, base + 20).pvalue)


def test_benjamini_hochberg_applies_across_columns(tmp_path: Path) -> None:
    ref, cur, raw = _ks_case()
    assert 0.005 < raw < 0.05
    corrected = column(compare(tmp_path, ref, cur), "x0")
    assert corrected.p_value == pytest.approx(raw, abs=1e-12)
    assert corrected.p_value_adjusted == pytest.approx(min(1.0, raw * 10), abs=1e-12)
    assert corrected.verdict == "no_drift"
    assert "BH-adjusted" in corrected.reason
    uncorrected = column(compare(tmp_path, ref, cur, correction="none"), "x0")
    assert uncorrected.verdict == "drift"
    bonferroni = column(compare(tmp_path, ref, cur, correction="bonferroni"), "x0")
    assert bonferroni.p_value_adjusted == pytest.approx(min(1.0, raw * 10))


def _one_drifted_of_ten() -> tuple[dict[str, Any], dict[str, Any]]:
    ref = {f"x{i}": normal(300) for i in range(10)}
    cur = {f"x{i}": normal(300) for i in range(10)}
    cur["x3"] = normal(300, 3.0)
    return ref, cur


def test_dataset_drift_by_share_or_critical_column(tmp_path: Path) -> None:
    ref, cur = _one_drifted_of_ten()
    plain = compare(tmp_path, ref, cur)
    assert plain.verdict == "no_drift" and plain.summary.drifted == 1
    assert plain.columns[0].column == "x3"  # most severe first
    assert not plain.summary.drift
    by_share = compare(tmp_path, ref, cur, share=0.1)
    assert by_share.verdict == "drift" and by_share.summary.share_drifted == pytest.approx(0.1)
    critical = compare(tmp_path, ref, cur, critical=["x3"])
    assert critical.verdict == "drift"
    assert critical.reasons == ["critical column 'x3': drift"]
    assert critical.summary.critical_drifted == 1
    quiet = compare(tmp_path, ref, cur, critical=["x4"])
    assert quiet.verdict == "no_drift"
    del cur["x4"]
    missing = compare(tmp_path, ref, cur, critical=["x4"])
    assert missing.verdict == "drift"
    assert missing.reasons == ["critical column 'x4': schema_mismatch"]


def test_config_naming_an_unknown_column_is_an_error(tmp_path: Path) -> None:
    data = {"x": normal(50)}
    with pytest.raises(ConfigError, match=r"drift.critical: column 'nope'"):
        compare(tmp_path, data, data, critical=["nope"])


# --------------------------------------------------------------------------- inputs


def test_no_common_columns_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no common columns"):
        compare(tmp_path, {"a": normal(40)}, {"b": normal(40)})


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.parquet", b"not parquet at all", "cannot read parquet"),
        ("empty.csv", b"", "file is empty"),
        ("data.json", b"{}", "unsupported file type"),
        ("broken.csv", b"a,b\n1,2\n3\n", "cannot parse CSV"),
    ],
)
def test_unreadable_files_are_one_line_data_errors(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        open_table(path)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="file not found"):
        open_table(tmp_path / "absent.parquet")


def test_csv_and_parquet_give_the_same_verdicts(tmp_path: Path) -> None:
    ref = {"x": normal(300), "c": labels(300, ["a", "b", "c"])}
    cur = {"x": normal(300, 0.5), "c": labels(300, ["a", "b", "c"])}
    from_parquet = compare(tmp_path, ref, cur)
    csv_ref, csv_cur = write(tmp_path / "r.csv", ref), write(tmp_path / "c.csv", cur)
    from_csv = build_report(
        make_project(tmp_path), make_store(tmp_path), open_table(csv_ref), open_table(csv_cur)
    )
    assert from_csv.reference.format == "csv"
    for name in ("x", "c"):
        a, b = column(from_parquet, name), column(from_csv, name)
        assert (a.verdict, a.method) == (b.verdict, b.method)
        assert a.statistic == pytest.approx(b.statistic, rel=1e-9)


def test_a_csv_batch_reads_dates_and_empty_fields_as_ingest_does(tmp_path: Path) -> None:
    """Reference: the CSV as ingest reads it (pandas: dates stay text, empty fields missing);
    current: the same CSV. Dates were read as date32 (a type change, counted as drift) and an
    empty text field as an unseen category '' (missing rate 5% -> 0%)."""
    from mlops.artifacts import read_table

    rows = 400
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(RNG.integers(0, 40, rows), unit="D")
    region = pd.Series(labels(rows, ["north", "south", "east"]), dtype=object)
    region[::20] = None
    frame = pd.DataFrame(
        {"signup_date": days.strftime("%Y-%m-%d"), "region": region, "x": normal(rows)}
    )
    csv = tmp_path / "batch.csv"
    frame.to_csv(csv, index=False)
    reference = tmp_path / "reference.parquet"
    read_table(csv).to_parquet(reference)
    current = open_table(csv)
    assert str(current.types["signup_date"]) in ("string", "large_string")
    report = build_report(
        make_project(tmp_path), make_store(tmp_path), open_table(reference), current
    )
    assert column(report, "signup_date").verdict == "no_drift"
    region_drift = column(report, "region")
    assert region_drift.verdict == "no_drift"
    assert region_drift.current.missing == rows // 20
    assert region_drift.unseen_categories == []


@pytest.mark.parametrize("method", ["auto", "wasserstein", "psi", "jensenshannon"])
def test_values_near_the_float_limits_never_produce_nan(tmp_path: Path, method: str) -> None:
    big = np.r_[np.full(50, -1e308), np.full(50, 1e308), np.arange(50.0)]
    ref = {"x": big, "y": normal(150)}
    cur = {"x": np.r_[big[20:], np.full(20, 1e308)], "y": normal(150)}
    report = compare(tmp_path, ref, cur, numeric_method=method)
    strict_json(report)
    assert column(report, "x").verdict in ("drift", "no_drift", "insufficient_data")


def test_a_tenth_of_a_standard_deviation_is_found_among_clean_columns(tmp_path: Path) -> None:
    rows = 10_000
    ref = {f"x{i}": normal(rows) for i in range(5)}
    cur = {f"x{i}": normal(rows, 0.1 if i == 2 else 0.0) for i in range(5)}
    report = compare(tmp_path, ref, cur, numeric_method="ks")
    assert [c.column for c in report.columns if c.verdict == "drift"] == ["x2"]
    assert column(report, "x2").p_value_adjusted is not None
    assert column(report, "x2").p_value_adjusted <= 0.05  # type: ignore[operator]


def test_chi_square_on_a_numeric_column_stays_chi_square_at_any_size(tmp_path: Path) -> None:
    data = {"n": RNG.integers(0, 4, 3_000), "x": normal(3_000)}
    report = compare(tmp_path, data, data, numeric_method="chisquare")
    n = column(report, "n")
    assert (n.method, n.method_reason) == ("chisquare", "drift.numeric_method: chisquare")
    assert n.p_value == pytest.approx(1.0)
    assert n.effect_size_name == "Cramér's V"


# --------------------------------------------------------------------------- columns never compared


def project_with_schema(root: Path, frame: pd.DataFrame, data: DataParams, **drift: Any) -> Project:
    """A project whose schema contract was inferred from `frame` (as ingest infers it)."""
    from mlops.data import infer_schema

    base = make_project(root, **drift)
    schema = infer_schema(frame, data, "source.csv")
    (root / "schema.json").write_text(json.dumps(schema.model_dump(mode="json")))
    paths = base.settings.paths.model_copy(update={"schema_file": root / "schema.json"})
    config = base.config.model_copy(
        update={
            "params": base.params.model_copy(update={"data": data}),
            "settings": base.settings.model_copy(update={"paths": paths}),
        }
    )
    return Project(root=root, config=config)


def test_identifier_drop_and_exclude_columns_are_ignored_with_reasons(tmp_path: Path) -> None:
    n = 300
    rng = np.random.default_rng(0)

    def side(offset: int) -> dict[str, Any]:
        return {
            "Unnamed: 0": np.arange(1, n + 1) + offset,  # R's row names: always "drift"
            "row": np.arange(n) + offset,  # a row number by its values
            "size": rng.normal(0, 1, n),
            "batch_no": np.full(n, offset, dtype=np.int64),  # dropped in params
            "noise": rng.normal(offset, 1, n),  # excluded from drift only
            "label": rng.choice(["a", "b"], n),
        }

    ref, cur = side(0), side(10_000)
    data = DataParams(source="source.csv", target="label", drop=["batch_no"])
    project = project_with_schema(tmp_path, pd.DataFrame(ref), data, exclude=["noise"])
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.parquet", cur)),
    )
    ignored = {i.column: i.reason for i in report.ignored}
    assert ignored == {
        "Unnamed: 0": "identifier column (named 'Unnamed: 0', like a row number or key)",
        "row": "identifier column (a row number: 0..299 in file order)",
        "batch_no": "listed in data.drop",
        "noise": "listed in drift.exclude",
    }
    assert [c.column for c in report.columns] == ["size"]
    assert report.target is not None and report.target.column == "label"
    assert report.verdict == "no_drift"
    assert report.summary.columns == 1
    assert strict_json(report)["ignored"][0]["reason"]


def test_a_date_column_kept_as_text_is_not_compared(tmp_path: Path) -> None:
    """Dates read from a CSV are text; the contract knows them as dates: a batch of newer
    days is not drift (they were compared as categories, every new day 'unseen')."""
    n = 300

    def side(start: str) -> dict[str, Any]:
        days = pd.Timestamp(start) + pd.to_timedelta(np.arange(n) % 60, unit="D")
        return {"day": list(days.strftime("%Y-%m-%d")), "x": normal(n), "label": ["a", "b"] * 150}

    ref, cur = side("2022-01-01"), side("2024-01-01")
    data = DataParams(source="source.csv", target="label")
    project = project_with_schema(tmp_path, pd.DataFrame(ref), data)
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.csv", cur)),
    )
    assert {i.column: i.reason for i in report.ignored} == {"day": "datetime values not compared"}
    assert [c.column for c in report.columns] == ["x"]


def test_without_a_schema_identifiers_are_known_by_name(tmp_path: Path) -> None:
    n = 100
    ref = {"rownames": np.arange(1, n + 1), "x": normal(n)}
    cur = {"rownames": np.arange(n + 1, 2 * n + 1), "x": normal(n)}
    report = compare(tmp_path, ref, cur)
    assert {i.column: i.reason for i in report.ignored} == {
        "rownames": "identifier column (named 'rownames', like a row number or key)"
    }
    assert [c.column for c in report.columns] == ["x"]


def test_an_identifier_listed_in_data_features_is_still_compared(tmp_path: Path) -> None:
    n = 100
    ref = {"id": np.arange(n) % 7, "x": normal(n), "label": ["a", "b"] * (n // 2)}
    data = DataParams(source="source.csv", target="label", features=["id", "x"])
    project = project_with_schema(tmp_path, pd.DataFrame(ref), data)
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.parquet", ref)),
    )
    assert report.ignored == []
    assert sorted(c.column for c in report.columns) == ["id", "x"]


def test_a_contract_without_roles_falls_back_to_names(tmp_path: Path) -> None:
    n = 100
    ref = {"rownames": np.arange(1, n + 1), "id": np.arange(n), "x": normal(n)}
    data = DataParams(source="source.csv", target="x", features=["id"])
    project = project_with_schema(tmp_path, pd.DataFrame(ref), data)
    old = json.loads((tmp_path / "schema.json").read_text())
    for item in old["columns"]:  # as written before roles were recorded
        del item["role"], item["excluded_reason"]
    (tmp_path / "schema.json").write_text(json.dumps(old))
    report = build_report(
        project,
        make_store(tmp_path),
        open_table(write(tmp_path / "ref.parquet", ref)),
        open_table(write(tmp_path / "cur.parquet", ref)),
    )
    # `rownames` by its name; `id` too, but the old model was trained on it: still compared.
    assert [i.column for i in report.ignored] == ["rownames"]
    assert [c.column for c in report.columns] == ["id"]
