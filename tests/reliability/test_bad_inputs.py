"""A corpus of bad inputs run through the commands: each ends in a one-line error naming the file
(exit 1) or the documented verdict (exit 3 for a check that says no) — never a traceback, and
nothing half-written."""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from mlops.cli.main import app

GOOD_COLUMNS = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
GOOD_ROWS = [
    "Adelie,Torgersen,39.1,18.7,181,3750,male,2007",
    "Gentoo,Biscoe,46.1,13.2,211,4500,female,2007",
    "Chinstrap,Dream,46.5,17.9,192,3500,female,2007",
    "Adelie,Dream,37.2,18.1,178,3900,male,2008",
]


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _parquet_bytes(frame: pd.DataFrame, path: Path) -> bytes:
    frame.to_parquet(path)
    return path.read_bytes()


@dataclass(frozen=True)
class Case:
    name: str
    suffix: str
    make: Callable[[Path], bytes]
    pattern: str  # what the one-line error must say (besides the file name)
    exit_code: int = 1
    sets: tuple[str, ...] = ()  # params overrides for the ingest


def _truncated_parquet(tmp: Path) -> bytes:
    data = _parquet_bytes(pd.DataFrame({"species": ["a", "b"] * 50, "x": range(100)}), tmp)
    return data[: len(data) // 2]


def _empty_parquet(tmp: Path) -> bytes:
    frame = pd.DataFrame({"species": pd.Series([], dtype=str), "x": pd.Series([], dtype=float)})
    return _parquet_bytes(frame, tmp)


def _map_parquet(tmp: Path) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "species": ["a", "b"] * 30,
            "m": pa.array([[("k", 1)]] * 60, type=pa.map_(pa.string(), pa.int64())),
        }
    )
    pq.write_table(table, tmp)
    return tmp.read_bytes()


INGEST_CASES = [
    Case(
        "binary garbage",
        ".csv",
        lambda _: bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
        r"binary|UTF-8|parse",
    ),
    Case(
        "a value past the header's last column",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, *[row + ",extra" for row in GOOD_ROWS * 10]),
        r"line 2 has 9 fields, the header has 8",
    ),
    Case(
        "a row shorter than the header",
        ".csv",
        lambda _: _csv(
            GOOD_COLUMNS, *GOOD_ROWS * 10, "Adelie,Dream,37.2,18.1,178,3900", *GOOD_ROWS
        ),
        r"line 42 has 6 fields, the header has 8 .*refusing to fill the rest with missing values",
    ),
    Case(
        "a short row after a quoted newline",
        ".csv",
        lambda _: _csv("species,note,mass", *[f'a,"two\nlines",{i}' for i in range(30)], "b,short"),
        r"line 62 has 2 fields, the header has 3",
        sets=("data.csv.sep=','",),
    ),
    Case(
        "an integer beyond 64 bits",
        ".csv",
        lambda _: _csv("species,n", *[f"{'ab'[i % 2]},{10**25 + i}" for i in range(60)]),
        r"column 'n' holds integers beyond 64 bits \(line 2\)",
    ),
    Case(
        "struct and list columns",
        ".parquet",
        lambda tmp: _parquet_bytes(
            pd.DataFrame(
                {"species": ["a", "b"] * 30, "s": [{"k": 1, "v": "x"}] * 60, "l": [[1, 2]] * 60}
            ),
            tmp,
        ),
        r"nested columns s \(struct<k: int64, v: string>\), l \(list<element: int64>\)",
    ),
    Case(
        "a map column",
        ".parquet",
        lambda tmp: _map_parquet(tmp),
        r"nested columns m \(map<string, int64",
    ),
    Case(
        "missing-value markers in a numeric column",
        ".csv",
        lambda _: _csv(
            "species,mass",
            *[f"{'ab'[i % 2]},{'?' if i % 12 == 0 else 3000 + i}" for i in range(90)],
        ),
        r"column 'mass' is numeric except \d+ sampled value\(s\) '\?'.*data\.csv\.na_values",
    ),
    Case(
        "thousands separators",
        ".csv",
        lambda _: _csv("species,pop", *[f'{"ab"[i % 2]},"{1000 + 37 * i:,}"' for i in range(90)]),
        r"column 'pop' holds numbers with thousands separators .*data\.csv\.thousands: \",\"",
    ),
    Case(
        "NUL bytes",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, "Adelie\x00,Torgersen,1,2,3,4,male,2007"),
        r"binary",
    ),
    Case(
        # A ';' file is sniffed as such; read with a separator forced to ',' it is one column.
        "wrong delimiter",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS.replace(",", ";"), *(r.replace(",", ";") for r in GOOD_ROWS)),
        r"single column 'species;island;.*contains ';'.*set data\.csv\.sep: \";\"",
        sets=("data.csv.sep=','",),
    ),
    Case(
        "ragged rows",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, GOOD_ROWS[0], GOOD_ROWS[1] + ",extra,fields"),
        r"cannot parse CSV.*line 3",
    ),
    Case(
        "non-UTF-8",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, *GOOD_ROWS).replace(b"Dream", "Dr\xe9am".encode("latin-1")),
        r"not UTF-8",
    ),
    Case("empty file", ".csv", lambda _: b"", r"file is empty"),
    Case("whitespace only", ".csv", lambda _: b"  \n\n \n", r"empty|no data|no columns"),
    Case("header only", ".csv", lambda _: _csv(GOOD_COLUMNS), r"no data rows"),
    Case(
        "duplicate column names",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS + ",sex", *(r + ",male" for r in GOOD_ROWS)),
        r"duplicate column name 'sex'",
    ),
    Case(
        "unbalanced quote",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, '"Adelie,Torgersen,1,2,3,4,male,2007', *GOOD_ROWS),
        r"cannot parse CSV|target|single class|no data",
    ),
    Case(
        "infinite values",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, *GOOD_ROWS, "Adelie,Dream,inf,18.1,178,3900,male,2008"),
        r"infinite values",
    ),
    Case(
        "single-class target",
        ".csv",
        lambda _: _csv(
            GOOD_COLUMNS,
            *(r.replace("Gentoo", "Adelie").replace("Chinstrap", "Adelie") for r in GOOD_ROWS),
        ),
        r"single class",
    ),
    Case(
        "target column missing",
        ".csv",
        lambda _: _csv("island,bill_length_mm", "Dream,1.0", "Biscoe,2.0"),
        r"target column 'species' not found",
    ),
    Case(
        "all-missing target",
        ".csv",
        lambda _: _csv(GOOD_COLUMNS, *(",".join(["", *r.split(",")[1:]]) for r in GOOD_ROWS)),
        r"has no values",
    ),
    Case(
        "gzip named .csv",
        ".csv",
        lambda _: gzip.compress(_csv(GOOD_COLUMNS, *GOOD_ROWS)),
        r"binary|UTF-8|parse",
    ),
    Case("truncated parquet", ".parquet", _truncated_parquet, r"cannot read parquet"),
    Case(
        "csv named .parquet",
        ".parquet",
        lambda _: _csv(GOOD_COLUMNS, *GOOD_ROWS),
        r"cannot read parquet",
    ),
    Case("zero-row parquet", ".parquet", _empty_parquet, r"no data rows"),
    Case("unsupported extension", ".xlsx", lambda _: b"PK\x03\x04", r"unsupported file type"),
    Case(
        "only a target column",
        ".csv",
        lambda _: _csv("species", "Adelie", "Gentoo"),
        r"no usable feature columns",
    ),
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _run(runner: CliRunner, *args: str) -> Result:
    env = {"MLOPS_DEBUG": "", "MLOPS_CONFIG": "", "MLOPS_PROJECT": ""}
    return runner.invoke(app, list(args), env=env, catch_exceptions=True)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_clean_failure(
    result: Result, exit_code: int, pattern: str, name_in_error: str | None
) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in (result.stdout + result.stderr)
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    if exit_code == 1:
        # Warnings logged before the failure may precede it; the error itself is one line.
        lines = [x for x in result.stderr.strip().splitlines() if not x.startswith("warning: ")]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), lines[0]
        if name_in_error:
            assert name_in_error in lines[0], lines[0]
        assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("case", INGEST_CASES, ids=[c.name for c in INGEST_CASES])
def test_ingest_rejects_bad_input(
    case: Case, project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    source = project / f"bad{case.suffix}"
    source.write_bytes(case.make(tmp_path / "scratch.parquet"))
    before = _files(project)
    sets = [arg for value in case.sets for arg in ("--set", value)]
    result = _run(runner, "--set", f"data.source={source.name}", *sets, "data", "ingest")
    assert_clean_failure(result, case.exit_code, case.pattern, source.name)
    assert _files(project) == before, "a failed ingest must write nothing"


def test_missing_source_and_directory_source(project: Path, runner: CliRunner) -> None:
    result = _run(runner, "--set", "data.source=nowhere.csv", "data", "ingest")
    assert_clean_failure(result, 1, r"file not found", "nowhere.csv")
    (project / "adir.csv").mkdir()
    result = _run(runner, "--set", "data.source=adir.csv", "data", "ingest")
    assert_clean_failure(result, 1, r"is a directory", "adir.csv")


def test_trailing_separator_on_every_data_row_keeps_columns_in_place(
    project: Path, runner: CliRunner
) -> None:
    """pandas' default made column 1 the index and slid every column left (species held islands,
    year was all missing), and every stage ran on it."""
    rows = [row + "," for row in GOOD_ROWS * 20]
    (project / "trailing.csv").write_text("\n".join([GOOD_COLUMNS, *rows]) + "\n")
    result = _run(runner, "--set", "data.source=trailing.csv", "data", "ingest")
    assert result.exit_code == 0, result.stderr
    raw = pd.read_parquet(project / "data" / "raw" / "dataset.parquet")
    assert list(raw.columns) == GOOD_COLUMNS.split(",")
    assert set(raw["species"]) == {"Adelie", "Gentoo", "Chinstrap"}
    assert raw["year"].notna().all()


def test_empty_trailing_fields_are_not_short_rows(project: Path, runner: CliRunner) -> None:
    """`a,b,` under a 3-field header has 3 fields, the last one empty (a missing value); only a
    row with fewer separators than the header is short. Blank lines are skipped."""
    rows = [
        row.rsplit(",", 1)[0] + "," if i % 7 == 0 else row for i, row in enumerate(GOOD_ROWS * 20)
    ]
    (project / "empty_last.csv").write_text("\n".join([GOOD_COLUMNS, *rows, "", *GOOD_ROWS]) + "\n")
    result = _run(runner, "--set", "data.source=empty_last.csv", "data", "ingest")
    assert result.exit_code == 0, result.stderr
    raw = pd.read_parquet(project / "data" / "raw" / "dataset.parquet")
    assert len(raw) == 84 and raw["year"].isna().sum() == 12
    assert raw["sex"].notna().all()


def test_a_column_stored_as_the_pandas_index_is_read_back(
    project: Path, runner: CliRunner, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [row.split(",") for row in GOOD_ROWS * 20]
    frame = pd.DataFrame(rows, columns=GOOD_COLUMNS.split(","))
    frame["penguin_id"] = [f"p{i}" for i in range(len(frame))]
    frame.set_index("penguin_id").to_parquet(project / "indexed.parquet")
    result = _run(runner, "--set", "data.source=indexed.parquet", "data", "ingest")
    assert result.exit_code == 0, result.stderr
    assert "'penguin_id' were stored as the pandas index" in caplog.text
    raw = pd.read_parquet(project / "data" / "raw" / "dataset.parquet")
    assert "penguin_id" in raw.columns and raw["penguin_id"].iloc[3] == "p3"


def test_markers_and_thousands_read_as_numbers_once_configured(
    project: Path, runner: CliRunner
) -> None:
    rows = [
        f'{"ab"[i % 2]},{"?" if i % 9 == 0 else 3000 + i},"{1000 + 37 * i:,}"' for i in range(90)
    ]
    (project / "numbers.csv").write_text("\n".join(["species,mass,pop", *rows]) + "\n")
    sets = ["--set", 'data.csv.na_values=["?"]', "--set", 'data.csv.thousands=","']
    result = _run(runner, "--set", "data.source=numbers.csv", *sets, "data", "ingest")
    assert result.exit_code == 0, result.stderr
    raw = pd.read_parquet(project / "data" / "raw" / "dataset.parquet")
    assert raw["mass"].isna().sum() == 10 and raw["mass"].max() == 3089
    assert raw["pop"].iloc[1] == 1037 and pd.api.types.is_numeric_dtype(raw["pop"])


def test_bom_and_crlf_are_read(project: Path, runner: CliRunner) -> None:
    rows = [GOOD_COLUMNS, *GOOD_ROWS] * 1
    (project / "bom.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    result = _run(runner, "--set", "data.source=bom.csv", "data", "ingest")
    assert result.exit_code == 0, result.stderr
    schema = (project / "data" / "schema.json").read_text()
    assert '"name": "species"' in schema and "\\ufeff" not in schema


VALIDATE_CASES = {
    "wrong dtype": lambda f: f.assign(bill_length_mm=["long"] * len(f)),
    "unseen category": lambda f: f.assign(island=["Atlantis"] * len(f)),
    "missing column": lambda f: f.drop(columns=["sex"]),
    "extra column": lambda f: f.assign(extra=1),
    "out of range": lambda f: f.assign(body_mass_g=f["body_mass_g"] * 100),
    "nulls not allowed": lambda f: f.assign(species=[None] * len(f)),
    "mismatched schema": lambda f: pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
}


@pytest.mark.parametrize("kind", list(VALIDATE_CASES))
def test_validate_reports_violations_with_exit_3(
    kind: str, trained_project: Path, runner: CliRunner
) -> None:
    frame = pd.read_parquet(trained_project / "data" / "raw" / "dataset.parquet")
    bad = VALIDATE_CASES[kind](frame)
    path = trained_project / "batch.csv"
    bad.to_csv(path, index=False)
    result = _run(runner, "data", "validate", str(path))
    assert_clean_failure(result, 3, "", None)
    assert "FAILED" in result.stdout
    report = (trained_project / "reports" / "validation.json").read_text()
    assert '"passed": false' in report


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncate", "delete"],
)
def test_train_on_damaged_split_is_a_clean_error(
    damage: str, trained_project: Path, runner: CliRunner
) -> None:
    train = trained_project / "data" / "processed" / "train.parquet"
    model_before = (trained_project / "models" / "model.skops").read_bytes()
    if damage == "garbage":
        train.write_bytes(os.urandom(2048))
    elif damage == "truncate":
        train.write_bytes(train.read_bytes()[:500])
    else:
        train.unlink()
    result = _run(runner, "train")
    pattern = r"run `mlops data split` first" if damage == "delete" else r"cannot read parquet"
    assert_clean_failure(result, 1, pattern, "train.parquet")
    assert (trained_project / "models" / "model.skops").read_bytes() == model_before


def test_damaged_model_file_is_refused_by_eval(trained_project: Path, runner: CliRunner) -> None:
    (trained_project / "models" / "model.skops").write_bytes(b"not a zip file at all")
    result = _run(runner, "eval")
    assert_clean_failure(result, 1, r"not a skops model file|does not match", "model.skops")


def test_bad_schema_contract_is_a_clean_error(trained_project: Path, runner: CliRunner) -> None:
    (trained_project / "data" / "schema.json").write_text("{not json")
    result = _run(runner, "data", "validate")
    assert_clean_failure(result, 1, r"not valid JSON", "schema.json")


# --------------------------------------------------------------------------- drift

#: Corpus files that cannot be read as a table at all: drift must refuse them in one line.
UNREADABLE = {
    "binary garbage",
    "NUL bytes",
    "ragged rows",
    "non-UTF-8",
    "empty file",
    "whitespace only",
    "duplicate column names",
    "gzip named .csv",
    "truncated parquet",
    "csv named .parquet",
    "unsupported extension",
}
DRIFT_CASES = [c for c in INGEST_CASES if c.name in UNREADABLE]


@pytest.mark.parametrize("case", DRIFT_CASES, ids=[c.name for c in DRIFT_CASES])
def test_drift_rejects_unreadable_current(
    case: Case, trained_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    current = trained_project / f"batch{case.suffix}"
    current.write_bytes(case.make(tmp_path / "scratch.parquet"))
    reports = trained_project / "reports"
    before = {p.name for p in reports.iterdir()}
    result = _run(runner, "drift", "--current", str(current))
    assert_clean_failure(result, 1, r".", current.name)
    assert {p.name for p in reports.iterdir()} == before, "no drift report for a failed run"


def test_drift_with_no_common_columns_is_an_error(trained_project: Path, runner: CliRunner) -> None:
    current = trained_project / "other.csv"
    pd.DataFrame({"a": range(50), "b": ["x"] * 50}).to_csv(current, index=False)
    result = _run(runner, "drift", "--current", str(current))
    assert_clean_failure(result, 1, r"common column|no column", None)


def test_drift_dtype_mismatch_is_a_schema_mismatch_verdict(
    trained_project: Path, runner: CliRunner
) -> None:
    frame = pd.read_parquet(trained_project / "data" / "processed" / "test.parquet")
    frame["bill_length_mm"] = "long"
    current = trained_project / "typed.csv"
    frame.to_csv(current, index=False)
    result = _run(runner, "drift", "--current", str(current), "--no-fail", "--json", "-")
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "schema_mismatch" in result.stdout


@pytest.mark.parametrize("name", ["header only", "zero-row parquet"])
def test_drift_on_a_batch_with_no_rows_is_insufficient_data(
    name: str, trained_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    case = next(c for c in INGEST_CASES if c.name == name)
    current = trained_project / f"batch{case.suffix}"
    current.write_bytes(case.make(tmp_path / "scratch.parquet"))
    result = _run(runner, "drift", "--current", str(current), "--json", "-")
    # Nothing to test is no pass for a gate: exit 3 unless drift.fail_on_insufficient is false.
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "insufficient_data" in result.stdout and "NaN" not in result.stdout
    allowed = _run(
        runner, "--set", "drift.fail_on_insufficient=false", "drift", "--current", str(current)
    )
    if name == "header only":
        assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    else:  # its one column is none of the reference's: every feature is missing, that is drift
        assert allowed.exit_code == 3, allowed.stdout + allowed.stderr
        assert "missing from the current data" in allowed.stdout


# --------------------------------------------------------------------------- predict

PREDICT_CASES = [c for c in INGEST_CASES if c.name in UNREADABLE]


@pytest.fixture
def champion_project(trained_project: Path) -> Path:
    import json as _json

    from conftest import open_store
    from mlops import registry

    store = open_store()
    record = _json.loads((trained_project / "models" / "run.json").read_text())
    version = registry.register(store, record["model_uri"], {})
    registry.set_alias(store, "champion", version.version)
    return trained_project


@pytest.mark.parametrize("case", PREDICT_CASES, ids=[c.name for c in PREDICT_CASES])
def test_predict_rejects_unreadable_input(
    case: Case, champion_project: Path, runner: CliRunner, tmp_path: Path
) -> None:
    source = champion_project / f"batch{case.suffix}"
    source.write_bytes(case.make(tmp_path / "scratch.parquet"))
    output = champion_project / "scored.parquet"
    result = _run(runner, "predict", str(source), str(output))
    assert_clean_failure(result, 1, r".", source.name)
    assert not output.exists()
    assert not list(champion_project.glob(".scored.parquet*"))


def test_predict_lists_every_missing_column_at_once(
    champion_project: Path, runner: CliRunner
) -> None:
    frame = pd.read_parquet(champion_project / "data" / "processed" / "test.parquet")
    source = champion_project / "partial.csv"
    frame.drop(columns=["island", "sex", "body_mass_g"]).to_csv(source, index=False)
    output = champion_project / "scored.csv"
    result = _run(runner, "predict", str(source), str(output))
    assert_clean_failure(result, 1, r"island", source.name)
    line = result.stderr.strip()
    assert all(name in line for name in ("island", "sex", "body_mass_g"))
    assert not output.exists()


def test_predict_refuses_unsafe_type_coercion(champion_project: Path, runner: CliRunner) -> None:
    frame = pd.read_parquet(champion_project / "data" / "processed" / "test.parquet")
    frame["bill_length_mm"] = "long"
    source = champion_project / "typed.csv"
    frame.to_csv(source, index=False)
    output = champion_project / "scored.parquet"
    result = _run(runner, "predict", str(source), str(output))
    assert_clean_failure(result, 1, r"bill_length_mm", None)
    assert not output.exists()


def test_a_file_system_refusal_is_one_line(project: Path, runner: CliRunner) -> None:
    """An output folder that is a file (or a read-only mount, a full disk): one line naming the
    path, exit 1, no traceback."""
    raw = project / "data" / "raw"
    if raw.exists():
        import shutil

        shutil.rmtree(raw)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text("a file where a folder belongs\n")
    result = _run(runner, "data", "ingest")
    assert_clean_failure(result, 1, r"(Not a directory|File exists)", "raw")


def test_predict_refuses_a_list_valued_feature(champion_project: Path, runner: CliRunner) -> None:
    """A list column where the model reads a number was a traceback from the signature check
    (`The truth value of an array ... is ambiguous`) or from pyarrow's cast."""
    frame = pd.read_parquet(champion_project / "data" / "processed" / "test.parquet")
    frame["bill_length_mm"] = [[1.0, 2.0]] * len(frame)
    frame["island"] = [["Dream"]] * len(frame)
    source = champion_project / "lists.parquet"
    frame.to_parquet(source)
    output = champion_project / "scored.parquet"
    result = _run(runner, "predict", str(source), str(output))
    assert_clean_failure(
        result, 1, r"nested columns island \(list.*bill_length_mm \(list", "lists.parquet"
    )
    assert not output.exists()


def test_predict_and_drift_read_a_header_field_past_the_csv_field_limit(
    champion_project: Path, runner: CliRunner
) -> None:
    """Python's csv module stops at 131,072 characters per field (`field larger than field
    limit`); a header or value that long is data, not a reason for a traceback."""
    frame = pd.read_parquet(champion_project / "data" / "processed" / "test.parquet")
    frame["n" * 200_000] = 1.0
    frame.loc[0, "sex"] = None
    source = champion_project / "wide_header.csv"
    frame.to_csv(source, index=False)
    output = champion_project / "scored.parquet"
    result = _run(runner, "predict", str(source), str(output))
    assert result.exit_code == 0, result.stderr[-800:]
    assert "Traceback" not in result.stderr
    drift = _run(runner, "drift", "--current", str(source), "--no-fail")
    assert drift.exit_code == 0, drift.stderr[-800:]
    assert "Traceback" not in drift.stderr


def test_quoted_newlines_are_read_alike_by_ingest_drift_and_predict(
    champion_project: Path, runner: CliRunner
) -> None:
    """A valid CSV with a newline inside a quoted value was accepted by ingest (pandas) and
    refused by drift and predict (pyarrow without `newlines_in_values`) once it spanned blocks."""
    frame = pd.read_parquet(champion_project / "data" / "processed" / "test.parquet")
    # Big enough that pyarrow splits the file into blocks, one boundary inside a quoted value.
    frame = pd.concat([frame] * 400, ignore_index=True)
    frame["note"] = ["line one\nline two, with a comma " + "x" * 40] * len(frame)
    source = champion_project / "notes.csv"
    frame.to_csv(source, index=False)
    assert '"line one\nline two' in source.read_text()
    output = champion_project / "scored.csv"
    result = _run(runner, "predict", str(source), str(output))
    assert result.exit_code == 0, result.stderr[-800:]
    scored = pd.read_csv(output)
    assert len(scored) == len(frame) and scored["note"].iloc[0] == frame["note"].iloc[0]
    drift = _run(runner, "drift", "--current", str(source), "--no-fail")
    assert drift.exit_code == 0, drift.stderr[-800:]
