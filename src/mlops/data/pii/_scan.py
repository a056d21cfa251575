"""`scan()`: classify each column of a frame as personal data (or not) from a sample of values.

Rule-based and offline: value patterns matched over a seeded sample of non-missing values
(vectorized, RE2 through pyarrow), column-name hints that lower the share needed, and the
checksums (Luhn for cards, mod 97 for IBANs) validated on the sample and then on every value of
a flagged column. Findings carry shares and reasons, never a value.

Limits, honestly: names are found by their column name (`name`, `first_name`, `customer`, ...)
plus a capitalised-words shape, or without a hint only as "First Last" pairs in a column of
mostly distinct values; a name inside free text, a lower-case name, or a name column called
something else (`holder`, `x1`) is missed. Phone shapes are international (+ or 00), North
American or national with a trunk 0; a bare 10-digit number without a hint is not called a
phone. National ids cover US SSNs and UK NINOs only. Free-text columns are flagged as a kind of
their own: they may hold anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from mlops.data.pii._patterns import (
    CARD,
    EMAIL,
    FULL_NAME,
    IBAN,
    IPV4,
    IPV6,
    NAME,
    NATIONAL_ID,
    PHONE,
    PiiKind,
    hinted_kinds,
    iban_valid,
    luhn_valid,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    import pyarrow as pa

#: Non-missing values sampled per column (seeded): enough for a share to within ~1%.
SAMPLE = 10_000
#: Share of sampled values that must match a pattern for a column to be flagged...
MIN_SHARE = 0.5
#: ...or, when the column name hints at that kind, this lower share.
HINTED_SHARE = 0.2
#: Free text: mean words per value at least this, in a column of mostly distinct values.
TEXT_WORDS = 4.0
#: Value-only names ("First Last" with no hint in the header): this share of distinct values.
NAME_DISTINCT = 0.5
#: Hinted names: at least this many distinct values (or NAME_DISTINCT of the sample).
NAME_VALUES = 50

_KIND_LABELS: dict[PiiKind, str] = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "credit_card": "card numbers with a valid Luhn checksum",
    "iban": "IBANs with a valid mod-97 checksum",
    "ip": "IP addresses",
    "national_id": "national id numbers (US SSN, UK NINO)",
    "person_name": "person names",
    "free_text": "free text",
    "declared": "personal data (declared in data.pii, not detected)",
}
#: When two kinds match as well, the more specific wins.
_PRIORITY: tuple[PiiKind, ...] = (
    "email",
    "iban",
    "credit_card",
    "ip",
    "national_id",
    "phone",
    "person_name",
    "free_text",
)


class ColumnFinding(BaseModel):
    """One column classified as personal data: the evidence, never a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    kind: PiiKind
    #: Share of the sampled non-missing values that match the kind's pattern (and checksum).
    share: float
    sampled: int
    #: The column-name hint, if the header suggested this kind.
    hint: str | None = None
    #: Cards and IBANs: every non-missing value of the column checked (count and valid share).
    checked: int | None = None
    checksum_share: float | None = None

    @property
    def evidence(self) -> str:
        if self.kind == "declared":
            return _KIND_LABELS["declared"]
        text = f"{self.share:.0%} of {self.sampled:,} sampled values look like {_KIND_LABELS[self.kind]}"
        if self.hint:
            text += f"; {self.hint}"
        if self.checked is not None and self.checksum_share is not None:
            text += f"; checksum valid in {self.checksum_share:.1%} of all {self.checked:,}"
        return text


def _sample(series: pd.Series, size: int, seed: int) -> pa.Array | None:
    """Up to `size` non-missing values as stripped text (None: not a text or integer column)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = series.dtype
    integer = pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    text = pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        text = True
    if not (integer or text):
        return None
    if len(series) > 4 * size:  # pick positions first: no full pass over a big column
        positions = np.random.default_rng(seed).choice(len(series), 4 * size, replace=False)
        series = series.iloc[np.sort(positions)]
    present = series.dropna()
    if len(present) > size:
        present = present.sample(size, random_state=seed)
    if len(present) == 0:
        return None
    values = present.astype(str) if not text else present.astype(object).map(str)
    array = pa.array(values.to_numpy(dtype=object), type=pa.string())
    return pc.utf8_trim_whitespace(array)


def _matches(values: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    import numpy as np
    import pyarrow.compute as pc

    found = pc.match_substring_regex(values, f"^(?:{pattern})$")
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _digits(values: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.replace_substring_regex(values, r"\D", "")


def _compact(values: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.replace_substring(values, " ", "")


def _shares(column: str, values: pa.Array, integer: bool) -> dict[PiiKind, float]:
    """Share of the sample matching each kind (only kinds with any match)."""
    import numpy as np
    import pyarrow.compute as pc

    n = len(values)
    shares: dict[PiiKind, float] = {}
    has_digit = np.asarray(
        pc.match_substring_regex(values, r"\d").to_numpy(zero_copy_only=False), dtype=bool
    )
    card_like = _matches(values, CARD) & has_digit
    if card_like.any():
        rows = np.flatnonzero(card_like)
        valid = luhn_valid(_digits(values.take(rows)))
        shares["credit_card"] = float(valid.sum()) / n
    if integer:  # numbers stored as integers: only card numbers are recognisable
        return shares
    if pc.any(pc.match_substring(values, "@")).as_py():
        shares["email"] = float(_matches(values, EMAIL).sum()) / n
    iban_like = _matches(values, IBAN)
    if iban_like.any():
        rows = np.flatnonzero(iban_like)
        shares["iban"] = float(iban_valid(_compact(values.take(rows))).sum()) / n
    if pc.any(pc.match_substring_regex(values, r"[.:]")).as_py():
        shares["ip"] = float((_matches(values, IPV4) | _matches(values, IPV6)).sum()) / n
    if has_digit.any():
        shares["national_id"] = float(_matches(values, NATIONAL_ID).sum()) / n
        phone = _matches(values, PHONE) & ~card_like
        if phone.any():
            count = pc.utf8_length(_digits(values)).to_numpy(zero_copy_only=False)
            phone &= (count >= 7) & (count <= 15)
        shares["phone"] = float(phone.sum()) / n
    words = np.asarray(
        pc.add(pc.count_substring_regex(values, r"\s+"), 1).to_numpy(zero_copy_only=False)
    )
    unique = len(pc.unique(values))
    distinct = unique / n
    hints = hinted_kinds(column)
    if "person_name" in hints:  # a category (segment, plan) repeats a few capitalised words
        if unique >= min(NAME_VALUES, NAME_DISTINCT * n):
            shares["person_name"] = float(_matches(values, NAME).sum()) / n
    elif distinct >= NAME_DISTINCT:
        shares["person_name"] = float(_matches(values, FULL_NAME).sum()) / n
    varied = unique >= min(NAME_VALUES, NAME_DISTINCT * n)
    if varied and (float(words.mean()) >= TEXT_WORDS or "free_text" in hints):
        shares["free_text"] = float((words >= 3).sum()) / n
    return {kind: share for kind, share in shares.items() if share > 0}


def classify(
    column: str, series: pd.Series, sample: int = SAMPLE, seed: int = 0
) -> ColumnFinding | None:
    """The finding for one column, or None when it does not look personal."""
    import pandas as pd

    values = _sample(series, sample, seed)
    if values is None:
        return None
    integer = pd.api.types.is_integer_dtype(series.dtype)
    shares = _shares(column, values, integer)
    hints = hinted_kinds(column)
    flagged = [
        kind
        for kind in _PRIORITY
        if kind in shares and shares[kind] >= (HINTED_SHARE if kind in hints else MIN_SHARE)
    ]
    if not flagged:
        return None
    # The best-matching kind; a hinted kind wins when it matches nearly as well.
    kind = max(
        flagged, key=lambda k: (shares[k] + (0.1 if k in hints else 0.0), -_PRIORITY.index(k))
    )
    hint = f"named {column!r}" if kind in hints else None
    return ColumnFinding(
        column=column, kind=kind, share=round(shares[kind], 4), sampled=len(values), hint=hint
    )


def _full_check(series: pd.Series, finding: ColumnFinding) -> ColumnFinding:
    """Cards and IBANs: the checksum over every non-missing value of the column."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    present = series.dropna()
    if pd.api.types.is_string_dtype(present.dtype) and not pd.api.types.is_object_dtype(
        present.dtype
    ):
        array = pa.array(present)  # Arrow-backed text: no copy into Python strings
    else:
        array = pa.array(present.astype(str).to_numpy(dtype=object), type=pa.string())
    values = pc.utf8_trim_whitespace(array)
    if finding.kind == "credit_card":
        valid = luhn_valid(_digits(values)) & _matches(values, CARD)
    else:
        valid = iban_valid(_compact(values)) & _matches(values, IBAN)
    checked = len(present)
    share = round(float(valid.sum()) / checked, 4) if checked else 0.0
    return finding.model_copy(update={"checked": checked, "checksum_share": share})


def scan(frame: pd.DataFrame, sample: int = SAMPLE, seed: int = 0) -> list[ColumnFinding]:
    """Classify every column of `frame` from a seeded sample of its values; the columns that
    look personal, in frame order. Card and IBAN columns are then checksummed in full."""
    findings = []
    for name in frame.columns:
        finding = classify(str(name), frame[name], sample, seed)
        if finding is None:
            continue
        if finding.kind in ("credit_card", "iban"):
            finding = _full_check(frame[name], finding)
        findings.append(finding)
    return findings
