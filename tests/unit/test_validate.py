"""Validation against the schema contract: every violation kind, all reported at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import open_project
from mlops.config import DataParams
from mlops.data import Schema, Violation, infer_schema, validate, validate_frame
from mlops.errors import DataError, StageOrderError


def _reference() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "length": [10.0, 12.5, 15.0, 20.0, 11.0, 13.0],
            "count": [1, 2, 3, 4, 5, 6],
            "colour": ["red", "blue", "red", "green", "blue", "red"],
            "note": [None, "a", "b", None, "c", "d"],
            "label": ["x", "y", "x", "y", "x", "y"],
        }
    )


@pytest.fixture
def schema() -> Schema:
    return infer_schema(_reference(), DataParams(target="label"), "reference.csv")


def _by_check(frame: pd.DataFrame, schema: Schema) -> dict[tuple[str, str], Violation]:
    report = validate_frame(frame, schema, "candidate.csv", "schema.json")
    return {(v.column, v.check): v for v in report.violations}


def test_reference_data_passes(schema: Schema) -> None:
    report = validate_frame(_reference(), schema, "reference.csv", "schema.json")
    assert report.passed
    assert report.violations == []
    assert report.rows == 6
    assert report.checked_columns == 5
    assert report.to_json()["passed"] is True


def test_every_violation_kind_is_reported_at_once(schema: Schema) -> None:
    bad = pd.DataFrame(
        {
            "length": [10.0, 99.0, 12.0],  # out of the [10, 20] range seen at ingest
            # "count": missing column
            "colour": ["red", "purple", None],  # unseen category + nulls where not allowed
            "note": [1, 2, 3],  # numbers where strings are expected: dtype
            "label": ["x", "y", "z"],  # unseen target class
            "extra": [1, 2, 3],  # not in the contract
        }
    )
    report = validate_frame(bad, schema, "candidate.csv", "schema.json")
    assert not report.passed
    found = {(v.column, v.check) for v in report.violations}
    assert found == {
        ("count", "missing_column"),
        ("extra", "extra_column"),
        ("note", "dtype"),
        ("length", "range"),
        ("colour", "unseen_category"),
        ("colour", "nulls"),
        ("label", "unseen_category"),
    }
    kinds = {check for _, check in found}
    assert kinds == {"missing_column", "extra_column", "dtype", "nulls", "unseen_category", "range"}
    by_key = {(v.column, v.check): v for v in report.violations}
    assert by_key[("note", "dtype")].expected == "string"
    assert by_key[("note", "dtype")].actual == "integer"
    assert by_key[("length", "range")].rows == [2]
    assert by_key[("colour", "unseen_category")].actual == "'purple'"
    assert by_key[("colour", "unseen_category")].rows == [2]
    assert by_key[("colour", "nulls")].count == 1
    assert by_key[("colour", "nulls")].rows == [3]
    payload = report.to_json()
    assert payload["passed"] is False
    assert len(payload["violations"]) == 7
    json.dumps(payload)  # the report is JSON-serialisable as written


def test_fractional_values_where_integers_are_expected(schema: Schema) -> None:
    frame = _reference()
    frame["count"] = [1.5, 2.0, 3.0, 4.0, 5.0, 6.0]
    violation = _by_check(frame, schema)[("count", "dtype")]
    assert (violation.expected, violation.actual) == ("integer", "float")


def test_out_of_range_values_and_their_rows(schema: Schema) -> None:
    frame = _reference()
    frame.loc[1, "length"] = 99.0
    frame.loc[4, "length"] = -1.0
    frame.loc[5, "count"] = 60
    found = _by_check(frame, schema)
    length = found[("length", "range")]
    assert length.expected == "[10, 20]"
    assert length.actual == "-1 .. 99"
    assert length.count == 2
    assert length.rows == [2, 5]
    assert found[("count", "range")].rows == [6]
    assert set(found) == {("length", "range"), ("count", "range")}


def test_missing_values_are_not_out_of_range_even_with_nullable_dtypes(schema: Schema) -> None:
    # A nullable Int64 column with <NA> and an out-of-range value used to crash the check.
    frame = _reference()
    frame["count"] = pd.array([1, None, 3, 4, 5, 60], dtype="Int64")
    found = _by_check(frame, schema)
    assert set(found) == {("count", "nulls"), ("count", "range")}
    assert found[("count", "range")].rows == [6]
    assert found[("count", "nulls")].rows == [2]


def test_one_sided_range_in_a_hand_edited_contract(schema: Schema) -> None:
    columns = [
        c.model_copy(update={"min": None}) if c.name == "length" else c for c in schema.columns
    ]
    edited = schema.model_copy(update={"columns": columns})
    frame = _reference()
    frame.loc[0, "length"] = 25.0
    violation = _by_check(frame, edited)[("length", "range")]
    assert violation.expected == "[-inf, 20]"


def test_compatible_numeric_dtypes_pass(schema: Schema) -> None:
    frame = _reference()
    frame["length"] = frame["length"].round().astype("int64")  # integers where floats expected
    frame["count"] = frame["count"].astype("float64")  # whole floats where integers expected
    frame.loc[2, "count"] = np.nan  # ... even with a gap (a CSV round trip does this)
    found = _by_check(frame, schema)
    assert set(found) == {("count", "nulls")}


def test_string_where_number_expected_is_a_dtype_violation_only(schema: Schema) -> None:
    frame = _reference()
    frame["length"] = frame["length"].astype(str)
    found = _by_check(frame, schema)
    assert set(found) == {("length", "dtype")}
    assert found[("length", "dtype")].actual == "string"


def test_many_unseen_categories_are_summarised(schema: Schema) -> None:
    frame = pd.concat([_reference()] * 3, ignore_index=True)
    frame["colour"] = [f"c{i:02d}" for i in range(len(frame))]
    violation = _by_check(frame, schema)[("colour", "unseen_category")]
    assert violation.count == 18
    assert violation.actual.endswith("(+8 more)")
    assert len(violation.rows) == 5


def test_validate_stage_writes_the_report(project: Path) -> None:
    opened = open_project()
    with pytest.raises(StageOrderError, match=r"run `mlops data ingest` first"):
        validate(opened)
    paths = opened.settings.paths
    paths.schema_file.parent.mkdir(parents=True)
    contract = infer_schema(_reference(), DataParams(target="label"), "reference.csv")
    paths.schema_file.write_text(json.dumps(contract.model_dump(mode="json")), encoding="utf-8")
    with pytest.raises(StageOrderError, match=r"ingested data not found; run `mlops data ingest`"):
        validate(opened)

    candidate = project / "candidate.csv"
    frame = _reference()
    frame.loc[0, "colour"] = "purple"
    frame.to_csv(candidate, index=False)
    report = validate(opened, candidate)
    assert not report.passed
    written = json.loads((paths.reports / "validation.json").read_text(encoding="utf-8"))
    assert written["passed"] is False
    assert written["dataset"] == str(candidate)
    assert [v["check"] for v in written["violations"]] == ["unseen_category"]

    with pytest.raises(DataError, match=r"missing\.csv: file not found"):
        validate(opened, project / "missing.csv")
