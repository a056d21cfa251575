"""The PII scan's detectors (with checksums), decisions, keyed hashing and k-anonymity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops.config import DataParams, Params, check_params
from mlops.data import pii
from mlops.data.ingest import BUILTIN_DATASETS, protect
from mlops.errors import ConfigError, DataError

VALID_CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881", "378282246310005"]
VALID_IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
]


def kinds(frame: pd.DataFrame) -> dict[str, str]:
    return {f.column: f.kind for f in pii.scan(frame)}


def column(values: list[str], name: str = "x", repeat: int = 30) -> pd.DataFrame:
    return pd.DataFrame({name: values * repeat})


def test_luhn_and_iban_checksums() -> None:
    digits = pd.Series(["4111111111111111", "4111111111111112", "79927398713", "378282246310005"])
    assert pii.luhn_valid(digits).tolist() == [True, False, False, True]  # 11 digits: too short
    compact = pd.Series(
        ["GB82WEST12345698765432", "GB83WEST12345698765432", "DE89370400440532013000"]
    )
    assert pii.iban_valid(compact).tolist() == [True, False, True]


def test_card_numbers_need_a_valid_checksum() -> None:
    assert kinds(column(VALID_CARDS, "payment")) == {"payment": "credit_card"}
    invalid = [c[:-1] + str((int(c[-1]) + 1) % 10) for c in VALID_CARDS]
    assert kinds(column(invalid, "payment")) == {}
    as_integers = pd.DataFrame({"pan": [4111111111111111, 4012888888881881] * 40})
    found = pii.scan(as_integers)
    assert [f.kind for f in found] == ["credit_card"] and found[0].checksum_share == 1.0


def test_full_column_checksum_on_flagged_columns() -> None:
    values = VALID_CARDS * 30 + ["4111 1111 1111 1112"] * 30
    (finding,) = pii.scan(pd.DataFrame({"card": values}))
    assert finding.checked == 150 and finding.checksum_share == pytest.approx(0.8)


def test_iban_needs_mod97() -> None:
    assert kinds(column(VALID_IBANS, "account_no")) == {"account_no": "iban"}
    broken = [
        "GB00 WEST 1234 5698 7654 32",
        "DE00370400440532013000",
        "FR0020041010050500013M02606",
    ]
    assert kinds(column(broken, "ref")) == {}


def test_phones_emails_ips_national_ids() -> None:
    frame = pd.DataFrame(
        {
            "contact": ["+44 20 7946 0958", "(415) 555-2671", "020 7946 0958", "0033 1 23 45 67 89"]
            * 20,
            "mail": ["a.b@example.com", "x_y+tag@mail.example.co.uk"] * 40,
            "addr": ["192.168.0.1", "10.0.0.255", "2001:db8::1", "fe80::1ff:fe23:4567:890a"] * 20,
            "ssn": ["123-45-6789", "AB 12 34 56 C"] * 40,
            "when": ["12:30:45", "2021-03-04"] * 40,
            "version": ["1.2.3", "10.4"] * 40,
            "size": ["Very Good", "Fair", "Premium"] * 26 + ["Fair", "Fair"],
        }
    )
    assert kinds(frame) == {"contact": "phone", "mail": "email", "addr": "ip", "ssn": "national_id"}


def test_names_by_header_hint_and_by_shape() -> None:
    rng = np.random.default_rng(1)
    first = [
        f"{a}{b}"
        for a in ("Al", "Be", "Ca", "Do", "El", "Fa", "Gi", "Ho")
        for b in ("ice", "rt", "ra", "na", "o", "x", "ine", "ard")
    ]
    last = [
        f"{a}{b}"
        for a in ("Sch", "Ok", "Lind", "Mor", "Tak", "Nov")
        for b in ("midt", "afor", "qvist", "eau")
    ]
    full = [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(200)]
    frame = pd.DataFrame(
        {
            "first_name": [rng.choice(first) for _ in range(200)],
            "holder": full,  # no hint: "First Last" over mostly distinct values
            "customer_segment": rng.choice(["Premium", "Basic", "Gold Plus"], 200),
            "product_name": [f"Widget {i}" for i in range(200)],
            "species": rng.choice(["Adelie", "Gentoo", "Chinstrap"], 200),
        }
    )
    found = kinds(frame)
    assert found == {"first_name": "person_name", "holder": "person_name"}
    hint = next(f for f in pii.scan(frame) if f.column == "first_name").hint
    assert hint is not None and "first_name" in hint


def test_free_text() -> None:
    notes = [f"called on day {i} about the invoice and asked for a refund" for i in range(100)]
    assert kinds(pd.DataFrame({"notes": notes})) == {"notes": "free_text"}


def test_findings_carry_no_values() -> None:
    frame = pd.DataFrame({"email": [f"secret{i}@example.com" for i in range(50)]})
    (finding,) = pii.scan(frame)
    assert "secret" not in finding.model_dump_json() + finding.evidence


@pytest.mark.parametrize("name", sorted(BUILTIN_DATASETS))
def test_no_false_positive_on_builtin_data(name: str) -> None:
    assert pii.scan(BUILTIN_DATASETS[name]()) == []


def test_no_false_positive_on_the_init_acceptance_datasets(tmp_path: Path) -> None:
    from tests.integration.test_init import (
        multiclass_parquet,
        ordinal_regression_csv,
        rare_binary_csv,
    )

    from mlops import artifacts

    for path in (
        rare_binary_csv(tmp_path / "Default.csv"),
        ordinal_regression_csv(tmp_path / "diamonds.csv", rows=5000),
        multiclass_parquet(tmp_path / "points.parquet"),
    ):
        assert pii.scan(artifacts.read_table(path)) == [], path.name


def test_keyed_hash() -> None:
    series = pd.Series(["a@x.org", None, "a@x.org", "b@x.org"])
    key = b"k" * 32
    hashed = pii.keyed_hash(series, key)
    assert hashed[0] == hashed[2] != hashed[3] and pd.isna(hashed[1])
    assert len(hashed[0]) == 64 and "a@x.org" not in "".join(hashed.dropna())
    assert pii.keyed_hash(series, b"j" * 32)[0] != hashed[0]


def test_load_key(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    assert pii.load_key(root, {"MLOPS_PII_KEY": "s" * 20}) == b"s" * 20
    outside = tmp_path / "key"
    outside.write_text("f" * 32 + "\n")
    assert pii.load_key(root, {"MLOPS_PII_KEY_FILE": str(outside)}) == b"f" * 32
    inside = root / "key"
    inside.write_text("f" * 32)
    with pytest.raises(ConfigError, match="inside the project"):
        pii.load_key(root, {"MLOPS_PII_KEY_FILE": str(inside)})
    with pytest.raises(ConfigError, match="MLOPS_PII_KEY or point MLOPS_PII_KEY_FILE"):
        pii.load_key(root, {})
    with pytest.raises(ConfigError, match="at least 16"):
        pii.load_key(root, {"MLOPS_PII_KEY": "short"})


def test_k_anonymity() -> None:
    frame = pd.DataFrame({"zip": ["1", "1", "2", "2", "2", "3"], "age": [30, 30, 40, 40, 40, 50]})
    k = pii.k_anonymity(frame, ["zip", "age"])
    assert k is not None and (k.k, k.groups, k.rows_below_target) == (1, 3, 6)
    assert pii.k_anonymity(frame, []) is None


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "email": [f"p{i}@example.com" for i in range(60)],
            "card": VALID_CARDS * 15,
            "x": range(60),
            "y": ["a", "b"] * 30,
        }
    )


def test_protect_stops_on_undecided_columns_in_one_line(tmp_path: Path) -> None:
    params = DataParams(source="people.csv", target="y", pii={"email": "hash"})
    with pytest.raises(DataError) as caught:
        protect(_frame(), params, "people.csv", tmp_path)
    message = str(caught.value)
    assert message == (
        "people.csv: personal data in columns card (credit_card): decide each in params.yaml "
        "data.pii: {column: drop | hash | keep}"
    )


def test_protect_drops_hashes_and_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = DataParams(
        source="people.csv",
        target="y",
        pii={"email": "hash", "card": "drop", "x": "keep"},
        quasi_identifiers=["y"],
    )
    with pytest.raises(ConfigError, match="MLOPS_PII_KEY"):
        protect(_frame(), params, "people.csv", tmp_path)
    monkeypatch.setenv("MLOPS_PII_KEY", "0123456789abcdef0123")
    done = protect(_frame(), params, "people.csv", tmp_path)
    assert list(done.frame.columns) == ["email", "x", "y"]
    assert done.frame["email"].str.fullmatch("[0-9a-f]{64}").all()
    assert {r.column: (r.kind, r.decision) for r in done.records} == {
        "email": ("email", "hash"),
        "card": ("credit_card", "drop"),
        "x": ("declared", "keep"),
    }
    assert set(done.identifiers) == {"email", "x"}
    assert done.k_anonymity is not None and done.k_anonymity.k == 30


def test_decided_columns_must_exist(tmp_path: Path) -> None:
    params = DataParams(source="s.csv", target="y", pii={"mail": "drop"})
    with pytest.raises(DataError, match=r"data\.pii names column"):
        protect(_frame(), params, "s.csv", tmp_path)


def test_config_decisions_are_validated() -> None:
    with pytest.raises(ValidationError):
        DataParams(pii={"email": "encrypt"})  # type: ignore[dict-item]
    params = Params(data=DataParams(target="y", pii={"y": "hash"}, features=["a"]))
    problems = check_params(params)
    assert any(p.startswith("data.pii.y: the target cannot be hash") for p in problems)
    dropped = Params(data=DataParams(target="y", pii={"a": "drop"}, features=["a"]))
    assert any("dropped by data.pii" in p for p in check_params(dropped))


def test_drift_redaction_keeps_counts() -> None:
    from mlops.drift.report import ColumnDrift, Histogram, SideStats, redact_personal

    side = SideStats(dtype="string", rows=2, missing=0, missing_rate=0.0)
    column_drift = ColumnDrift(
        column="name",
        kind="categorical",
        verdict="drift",
        reason="r",
        reference=side,
        current=side,
        unseen_categories=["Alice Smith"],
        unseen_count=1,
        histogram=Histogram(
            kind="categories", labels=["Bob Jones", "Alice Smith"], reference=[1, 0], current=[0, 1]
        ),
    )
    (redacted,) = redact_personal([column_drift], {"name"})
    assert "Alice" not in redacted.model_dump_json() and redacted.unseen_count == 1
    assert redacted.histogram is not None and redacted.histogram.labels == [
        "<redacted>#1",
        "<redacted>#2",
    ]


def test_validation_never_quotes_values_of_a_personal_column() -> None:
    """An ordered personal column keeps its levels in the contract (they are the encoding); a new
    batch with an unseen level is reported by count, without the value."""
    from mlops.data.pii import PiiColumn
    from mlops.data.schema import ColumnSchema, Schema
    from mlops.data.validate import validate_frame

    schema = Schema(
        source="s.csv",
        target="y",
        task="classification",
        rows=3,
        columns=[
            ColumnSchema(
                name="birth_town", dtype="string", kind="categorical", nullable=True,
                categories=["Leeds", "York"], ordered=True, role="feature",
            ),
            ColumnSchema(
                name="age", dtype="integer", kind="numeric", nullable=True, min=18, max=90,
                role="feature",
            ),
            ColumnSchema(name="y", dtype="string", kind="categorical", nullable=False,
                         categories=["a", "b"], role="target"),
        ],
        features=["birth_town", "age"],
        pii=[
            PiiColumn(column="birth_town", kind="person_name", share=1.0, sampled=3,
                      decision="keep"),
            PiiColumn(column="age", kind="national_id", share=1.0, sampled=3, decision="keep"),
        ],
    )  # fmt: skip
    frame = pd.DataFrame({"birth_town": ["Leeds", "Zanzibar-Secret"], "age": [30, 121],
                          "y": ["a", "b"]})  # fmt: skip
    report = validate_frame(frame, schema, "new.csv", "schema.json")
    text = report.model_dump_json()
    checks = {v.column: v for v in report.violations}
    assert checks["birth_town"].check == "unseen_category" and checks["age"].check == "range"
    assert "Zanzibar-Secret" not in text and "121" not in text
    assert "personal data: not shown" in checks["birth_town"].actual
