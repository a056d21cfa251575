"""CSV dialects: the separator and decimal comma are sniffed, `data.csv` overrides them, a file
split wrongly says so, and ingest, drift and predict read the same file the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import open_project
from mlops import artifacts
from mlops.config import CsvParams
from mlops.data import ingest
from mlops.drift import open_table
from mlops.errors import DataError
from mlops.predict.schema import InputSchema
from mlops.predict.source import TableSource

EURO = "weight;colour;label\n1,5;red;a\n2,25;blue;b\n-0,75;red;a\n3;blue;b\n"


def write(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "sep"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1,5;2;x\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        # A quoted field holding another separator does not fool it.
        ('name,tags\n"x;y;z",1\n"p;q",2\n', ","),
        ('name;price\n"Smith, J.";1,5\n"Doe, A.";2\n', ";"),
        # The most consistent field count wins over the widest header.
        ("a;b,c;d\n1;2;3\n4;5;6\n", ";"),
    ],
)
def test_separator_is_sniffed(text: str, sep: str) -> None:
    assert artifacts.sniff_separator(text) == sep


def test_no_separator_in_a_one_column_file() -> None:
    assert artifacts.sniff_separator("species\nAdelie\nGentoo\n") is None
    assert artifacts.sniff_separator("") is None


@pytest.mark.parametrize(
    ("text", "sep", "decimal"),
    [
        (EURO, ";", ","),
        ("a;b\n1.5;x\n2;y\n", ";", "."),
        ("a;b\n1,5;2.5\n", ";", "."),  # both marks in numbers: not sure, keep the default
        ("a;b\n1;x\n2;y\n", ";", "."),  # integers only
        ("a;tags\n1;red,blue\n2;x,y\n", ";", "."),  # commas in text, not numbers
        ("a,b\n1,5\n", ",", "."),  # a comma-separated file cannot use decimal commas
    ],
)
def test_decimal_comma_is_sniffed(text: str, sep: str, decimal: str) -> None:
    assert artifacts.sniff_decimal(text, sep) == decimal


def test_semicolon_file_with_decimal_commas_reads_numbers(tmp_path: Path) -> None:
    frame = artifacts.read_table(write(tmp_path, EURO))
    assert list(frame.columns) == ["weight", "colour", "label"]
    assert frame["weight"].dtype == np.float64
    assert frame["weight"].tolist() == [1.5, 2.25, -0.75, 3.0]


@pytest.mark.parametrize("sep", ["\t", "|", ";"])
def test_other_separators_read(tmp_path: Path, sep: str) -> None:
    text = sep.join(["x", "y", "label"]) + "\n" + sep.join(["1.5", "red", "a"]) + "\n"
    frame = artifacts.read_table(write(tmp_path, text))
    assert list(frame.columns) == ["x", "y", "label"]
    assert frame["x"].tolist() == [1.5]


def test_dialect_describes_what_was_sniffed(tmp_path: Path) -> None:
    dialect = artifacts.check_csv_text(write(tmp_path, EURO))
    assert (dialect.sep, dialect.decimal, dialect.sniffed) == (";", ",", ("sep", "decimal"))
    assert dialect.describe() == "';'-separated, decimal ','"
    forced = artifacts.check_csv_text(write(tmp_path, EURO), options=CsvParams(decimal="."))
    assert (forced.sep, forced.decimal, forced.sniffed) == (";", ".", ("sep",))


def test_overrides_win_over_sniffing(tmp_path: Path) -> None:
    text = "a|b\n1|x\nn/a|y\n-|z\n"
    frame = artifacts.read_table(
        write(tmp_path, text), CsvParams(sep="|", na_values=["n/a", "-"]), setting="data.csv"
    )
    assert frame["a"].isna().tolist() == [False, True, True]
    # decimal "." forced on a decimal-comma file: the numbers stay text.
    kept = artifacts.read_table(write(tmp_path, EURO), CsvParams(decimal="."))
    assert kept["weight"].tolist()[:2] == ["1,5", "2,25"]


def test_encoding_override_reads_latin1(tmp_path: Path) -> None:
    path = write(tmp_path, "town;label\nKöln;a\nMálaga;b\n", encoding="latin-1")
    with pytest.raises(
        DataError,
        match=r"t\.csv: not UTF-8 text \(invalid .* at byte \d+\); set data\.csv\.encoding if it "
        r"is another encoding \(e\.g\. latin-1\)$",
    ):
        artifacts.read_table(path, setting="data.csv")
    frame = artifacts.read_table(path, CsvParams(encoding="latin-1"), setting="data.csv")
    assert frame["town"].tolist() == ["Köln", "Málaga"]


def test_utf16_file_is_not_taken_for_binary(tmp_path: Path) -> None:
    path = write(tmp_path, "a;b\n1,5;x\n2;y\n", encoding="utf-16")
    with pytest.raises(DataError, match="binary data"):
        artifacts.read_table(path)
    frame = artifacts.read_table(path, CsvParams(encoding="utf-16"))
    assert frame["a"].tolist() == [1.5, 2.0]


def test_unknown_encoding_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data\.csv\.encoding: unknown text encoding 'latin-01'"):
        artifacts.read_table(
            write(tmp_path, EURO), CsvParams(encoding="latin-01"), setting="data.csv"
        )


def test_utf8_encoding_override_still_drops_the_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + EURO.encode())
    frame = artifacts.read_table(path, CsvParams(encoding="UTF-8"))
    assert frame.columns[0] == "weight"


@pytest.mark.parametrize(
    ("text", "forced", "message"),
    [
        (
            EURO,
            ",",
            r"t\.csv: read as a single column 'weight;colour;label', which contains ';': the file "
            r"looks ';'-separated, not comma-separated \(set data\.csv\.sep: \";\"\)$",
        ),
        (
            "a\tb\n1\t2\n",
            ";",
            r"single column 'a\\tb', which contains tab: the file looks tab-separated, not "
            r"';'-separated \(set data\.csv\.sep: \"\\t\"\)$",
        ),
        (
            "a|b\n1|2\n",
            ",",
            r"which contains '\|': the file looks '\|'-separated.*set data\.csv\.sep: \"\|\"",
        ),
    ],
)
def test_a_file_read_as_one_column_names_the_separator_setting(
    tmp_path: Path, text: str, forced: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        artifacts.read_table(write(tmp_path, text), CsvParams(sep=forced), setting="data.csv")


def test_one_column_error_without_a_setting_does_not_name_one(tmp_path: Path) -> None:
    names = ["a;b;c"]
    with pytest.raises(DataError, match=r"\(check the file's separator\)$"):
        artifacts.check_single_column(tmp_path / "x.csv", names, artifacts.CsvDialect(), None)
    # A one-column file without another separator in its name is fine.
    artifacts.check_single_column(tmp_path / "x.csv", ["species"], artifacts.CsvDialect(), None)


def test_duplicate_header_is_found_with_the_sniffed_separator(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"duplicate column name 'b' in the header"):
        artifacts.read_table(write(tmp_path, "a;b;b\n1;2;3\n"))


def test_sniffing_reads_whole_lines_of_a_long_file(tmp_path: Path) -> None:
    rows = "".join(f"{i},5;{'x' * 50};{i % 2}\n" for i in range(3000))  # > SNIFF_CHARS
    path = write(tmp_path, "w;note;label\n" + rows)
    assert path.stat().st_size > artifacts.SNIFF_CHARS
    dialect = artifacts.check_csv_text(path, limit=1 << 14)
    assert (dialect.sep, dialect.decimal) == (";", ",")
    frame = artifacts.read_table(path)
    assert frame["w"].iloc[2] == 2.5


# --------------------------------------------------------------------------- drift and predict


def test_drift_reads_a_sniffed_csv_as_ingest_does(tmp_path: Path) -> None:
    source = open_table(write(tmp_path, EURO))
    assert source.types["weight"] == pa.float64()
    assert source.column("weight").to_pylist() == [1.5, 2.25, -0.75, 3.0]
    assert source.rows == 4
    assert sorted(source.types) == ["colour", "label", "weight"]


def test_drift_says_when_rows_do_not_fit_the_sniffed_separator(tmp_path: Path) -> None:
    path = write(tmp_path, "a;b\n1,2\n3,4\n")  # the header says ';', the rows say ','
    with pytest.raises(DataError, match=r"t\.csv: cannot parse CSV \(.*Expected 2 columns"):
        open_table(path)


def test_predict_reads_a_sniffed_csv_as_ingest_does(tmp_path: Path) -> None:
    path = write(tmp_path, EURO)
    table = TableSource(path)
    assert table.columns == ["weight", "colour", "label"]
    assert (table.dialect.sep, table.dialect.decimal) == (";", ",")
    schema = InputSchema.from_signature(
        [{"name": "weight", "type": "double"}, {"name": "colour", "type": "string"}]
    )
    batches = list(table.batches(schema, batch_size=3))
    assert [b.num_rows for b in batches] == [3, 1]
    weights = [v for b in batches for v in b.column("weight").to_pylist()]
    assert weights == [1.5, 2.25, -0.75, 3.0]


def test_ingest_passes_data_csv_to_the_reader(project: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "island": rng.choice(["Biscoe", "Dream"], 60),
            "bill": rng.normal(40, 3, 60).round(1),
            "species": rng.choice(["Adelie", "Gentoo"], 60),
        }
    )
    text = frame.to_csv(sep="|", decimal=",", index=False).replace("Dream", "unknown")
    (project / "euro.csv").write_text(text, encoding="utf-8")
    sniffed = ingest(open_project(None, "data.source=euro.csv"))
    assert sniffed.schema.column("bill").dtype == "float"
    assert "unknown" in (sniffed.schema.column("island").categories or [])
    told = ingest(
        open_project(
            None, "data.source=euro.csv", "data.csv.sep='|'", "data.csv.na_values=[unknown]"
        )
    )
    assert told.schema.column("island").categories == ["Biscoe"]
    assert told.schema.column("island").nullable is True
    with pytest.raises(DataError, match=r"set data\.csv\.sep: \"\|\""):
        ingest(open_project(None, "data.source=euro.csv", "data.csv.sep=';'"))
