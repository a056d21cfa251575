"""What personal data looks like: value patterns, column-name hints and checksums (Luhn, IBAN).

Patterns are RE2-compatible (no look-arounds, no back-references): pandas runs them through
pyarrow on `string[pyarrow]` values, vectorized. The checksums are vectorized with numpy, one
array per value length, so a full column of a million card numbers is checked in well under a
second.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    import pyarrow as pa

#: `declared`: not detected, but decided in `data.pii` (a column the user knows is personal).
PiiKind = Literal[
    "email",
    "phone",
    "credit_card",
    "iban",
    "ip",
    "national_id",
    "person_name",
    "free_text",
    "declared",
]

#: Value shapes, matched against whole (stripped) values.
EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
#: 13 to 19 digits, optionally grouped by single spaces or dashes (Luhn decides).
CARD = r"\d(?:[ \-]?\d){12,18}"
#: Country code, two check digits, 11 to 30 letters/digits, optionally grouped by spaces (mod 97).
IBAN = r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
#: Full or `::`-compressed IPv6 (at least three colons or a `::`, so times like 12:30:45 fail).
IPV6 = r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){0,6}(?::[0-9A-Fa-f]{1,4}){0,6}::?(?:[0-9A-Fa-f]{1,4})?"
#: International (+ or 00), North American (555) 123-4567, or national with a trunk 0
#: (020 7946 0958, 01 23 45 67 89, 030-1234567).
PHONE = (
    r"(?:\+|00)[1-9](?:[ .\-]?\(?\d+\)?){2,7}"
    r"|\(?[2-9]\d{2}\)?[ .\-]?\d{3}[ .\-]\d{4}"
    r"|\(?0\d{1,4}\)?(?:[ .\-]?\d{2,8}){1,4}"
)
#: US social security numbers (no 000/666/9xx area), UK national insurance numbers.
NATIONAL_ID = r"(?:[0-8]\d{2}-\d{2}-\d{4})|(?:[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])"
#: One to four capitalised words (letters, apostrophes, hyphens, an initial's dot): a name.
NAME = r"\p{Lu}[\p{L}'\-]*\.?(?: (?:\p{Lu}[\p{L}'\-]*\.?|(?:van|von|de|der|den|da|di|du|la|le|del|bin|al))){0,3}"
#: The stricter value-only shape (no hint from the header): first and last name.
FULL_NAME = r"\p{Lu}\p{Ll}+(?:[ \-]\p{Lu}\.?)?(?: \p{Lu}[\p{Ll}']+(?:-\p{Lu}\p{Ll}+)?){1,2}"

#: Column-name tokens (lower-cased, split on case changes and non-letters) that hint at a kind.
HINTS: dict[PiiKind, frozenset[str]] = {
    "email": frozenset({"email", "mail", "emailaddress"}),
    "phone": frozenset({"phone", "telephone", "tel", "mobile", "cell", "fax", "msisdn"}),
    "credit_card": frozenset({"card", "cc", "pan", "creditcard", "ccnumber"}),
    "iban": frozenset({"iban", "bic", "account"}),
    "ip": frozenset({"ip", "ipaddress", "ipv4", "ipv6"}),
    "national_id": frozenset(
        {"ssn", "nino", "nin", "passport", "national", "tax", "tin", "bsn", "personnummer"}
    ),
    "person_name": frozenset(
        {
            "name",
            "names",
            "firstname",
            "lastname",
            "surname",
            "forename",
            "fullname",
            "givenname",
            "familyname",
            "customer",
            "patient",
            "employee",
            "contact",
            "person",
            "owner",
        }
    ),
    "free_text": frozenset(
        {"comment", "comments", "note", "notes", "description", "text", "message", "remarks"}
    ),
}
#: Tokens that make a `*name` column something other than a person's name.
NOT_A_PERSON = frozenset(
    {
        "product",
        "file",
        "filename",
        "company",
        "species",
        "item",
        "brand",
        "model",
        "host",
        "hostname",
        "user",
        "username",
        "city",
        "country",
        "street",
        "feature",
        "column",
        "category",
        "team",
        "store",
        "shop",
        "region",
        "state",
        "island",
        "genus",
        "class",
        "type",
    }
)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")


def name_tokens(column: str) -> list[str]:
    """`customerEmail`, `customer_email` -> ["customer", "email"]; joined pairs are added
    (`first_name` -> also "firstname") so a hint matches however the name is spelt."""
    words = [w.lower() for w in _SPLIT.split(column.strip()) if w]
    return [*words, *(a + b for a, b in itertools.pairwise(words))]


def hinted_kinds(column: str) -> list[PiiKind]:
    """Kinds the column name alone suggests, most specific first."""
    tokens = set(name_tokens(column))
    kinds: list[PiiKind] = [
        kind for kind, words in HINTS.items() if tokens & words and kind != "person_name"
    ]
    if tokens & HINTS["person_name"] and not tokens & NOT_A_PERSON:
        kinds.append("person_name")
    return kinds


def _text(values: pa.Array | pd.Series) -> pa.Array:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    return pa.array(values.to_numpy(dtype=object), type=pa.string())


def _rows_of_width(
    values: pa.Array, width: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Positions of the values `width` bytes long, and their bytes as an (n, width) matrix
    (read straight from the Arrow buffers: no Python string per value)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(np.nan_to_num(lengths, nan=0) == width).astype(np.int64)
    if len(rows) == 0:
        return rows, np.zeros((0, width), dtype=np.uint8)
    picked = values.take(pa.array(rows))
    if isinstance(picked, pa.ChunkedArray):
        picked = picked.combine_chunks()
    large = pa.types.is_large_string(picked.type) or pa.types.is_large_binary(picked.type)
    offsets = np.frombuffer(picked.buffers()[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[picked.offset : picked.offset + len(picked) + 1]
    data = np.frombuffer(picked.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return rows, data.reshape(len(picked), width)


def _luhn_sum(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    import numpy as np

    matrix = raw[:, ::-1].astype(np.int16) - ord("0")
    doubled = matrix[:, 1::2] * 2
    total: npt.NDArray[np.int64] = matrix[:, 0::2].sum(axis=1, dtype=np.int64) + (
        doubled - 9 * (doubled > 9)
    ).sum(axis=1, dtype=np.int64)
    return total


def luhn_valid(digits: pa.Array | pd.Series) -> npt.NDArray[np.bool_]:
    """Per value (digits only, as text): whether the Luhn checksum holds (13 to 19 digits)."""
    import numpy as np

    values = _text(digits)
    valid = np.zeros(len(values), dtype=bool)
    for width in range(13, 20):
        rows, raw = _rows_of_width(values, width)
        if len(rows) == 0:
            continue
        valid[rows] = np.concatenate(
            [_luhn_sum(raw[i : i + CHUNK]) % 10 == 0 for i in range(0, len(raw), CHUNK)]
        )
    return valid


#: 10^i mod 97 for every exponent an IBAN can need (34 characters, two digits per letter).
_POW10_MOD97_LIST = [pow(10, i, 97) for i in range(70)]


def _pow10() -> npt.NDArray[np.int32]:
    import numpy as np

    return np.array(_POW10_MOD97_LIST, dtype=np.int32)


#: Rows checked at once: small matrices stay in the CPU cache.
CHUNK = 1 << 15


def _mod97(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    """The IBAN number (first four characters moved to the end, letters as 10..35) mod 97."""
    import numpy as np

    chars = np.concatenate([raw[:, 4:], raw[:, :4]], axis=1).astype(np.int32)
    letter = chars >= ord("A")
    codes = np.where(letter, chars - (ord("A") - 10), chars - ord("0"))
    # One weighted sum: each code times 10^(digits after it) mod 97 (letters are two digits).
    places = np.where(letter, 2, 1).astype(np.int32)
    after = np.cumsum(places[:, ::-1], axis=1)[:, ::-1] - places
    result: npt.NDArray[np.int32] = (codes * _pow10()[after]).sum(axis=1) % 97
    return result


def iban_valid(compact: pa.Array | pd.Series) -> npt.NDArray[np.bool_]:
    """Per value (upper-case, no spaces): whether the ISO 13616 mod-97 check holds."""
    import numpy as np

    values = _text(compact)
    valid = np.zeros(len(values), dtype=bool)
    for width in range(15, 35):
        rows, raw = _rows_of_width(values, width)
        if len(rows) == 0:
            continue
        valid[rows] = np.concatenate(
            [_mod97(raw[i : i + CHUNK]) == 1 for i in range(0, len(raw), CHUNK)]
        )
    return valid
