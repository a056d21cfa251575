"""What happens to a flagged column (`data.pii: {column: drop | hash | keep}`), the keyed hash,
the contract's record of findings and decisions, and k-anonymity over quasi-identifiers.

The hash key is read from the environment (`MLOPS_PII_KEY`) or a file outside the project
(`MLOPS_PII_KEY_FILE`) at the moment it is needed, and never becomes a config field: config is
logged to MLflow and recorded by DVC, the key must be neither.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from mlops.data.pii._scan import ColumnFinding
from mlops.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

Decision = Literal["drop", "hash", "keep"]
DECISIONS: tuple[Decision, ...] = ("drop", "hash", "keep")
KEY_ENV = "MLOPS_PII_KEY"
KEY_FILE_ENV = "MLOPS_PII_KEY_FILE"
#: A key shorter than this (bytes) is refused: HMAC is only as strong as its key.
MIN_KEY_BYTES = 16
#: What a kept personal value becomes in tracked artifacts (input example, drift reports).
REDACTED = "<redacted>"
#: Groups smaller than this count as re-identifiable in the k-anonymity summary.
K_TARGET = 5


class PiiColumn(ColumnFinding):
    """A finding as the schema contract records it, with the decision taken (None: undecided)."""

    decision: Decision | None = None


class KAnonymity(BaseModel):
    """k-anonymity of the declared quasi-identifiers: the smallest group of rows sharing them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: list[str]
    k: int
    groups: int
    #: Rows in groups smaller than K_TARGET (re-identifiable by these columns alone).
    rows_below_target: int
    target: int = K_TARGET


def undecided(
    findings: Iterable[ColumnFinding], decisions: Mapping[str, str]
) -> list[ColumnFinding]:
    return [f for f in findings if f.column not in decisions]


def undecided_message(source: str, findings: Iterable[ColumnFinding]) -> str:
    """The one-line error that stops ingest."""
    listed = ", ".join(f"{f.column} ({f.kind})" for f in findings)
    return (
        f"{source}: personal data in columns {listed}: decide each in params.yaml "
        "data.pii: {column: drop | hash | keep}"
    )


def records(
    findings: Iterable[ColumnFinding], decisions: Mapping[str, Decision]
) -> list[PiiColumn]:
    return [PiiColumn(**f.model_dump(), decision=decisions.get(f.column)) for f in findings]


def load_key(root: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key: `MLOPS_PII_KEY`, else the file `MLOPS_PII_KEY_FILE` names (outside `root`)."""
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV)
    if value:
        key = value.encode("utf-8")
        origin = KEY_ENV
    elif env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV]).expanduser().resolve()
        if path.is_relative_to(root.resolve()):
            raise ConfigError(
                f"{KEY_FILE_ENV}: {path} is inside the project; keep the key outside it "
                "(a file in the project can end up in git or DVC)"
            )
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"{KEY_FILE_ENV}: cannot read {path} ({exc.strerror})") from exc
        origin = f"{KEY_FILE_ENV} ({path})"
    else:
        raise ConfigError(
            f"data.pii: hashing needs a secret key: set {KEY_ENV} or point {KEY_FILE_ENV} at a "
            "file outside the project (never in params.yaml)"
        )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{origin}: the key is {len(key)} bytes; use at least {MIN_KEY_BYTES}")
    return key


def keyed_hash(series: pd.Series, key: bytes) -> pd.Series:
    """Hex HMAC-SHA256 of each value's text; missing values stay missing. Equal values hash
    equally (joins on the hashed column still work); each distinct value is hashed once."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    base = hmac.new(key, digestmod=hashlib.sha256)

    def digest(value: object) -> str:
        mac = base.copy()
        mac.update(str(value).encode("utf-8"))
        return mac.hexdigest()

    hashed = [digest(v) for v in uniques]
    out = pd.Series([None] * len(series), index=series.index, dtype=object)
    present = codes >= 0
    if hashed:
        import numpy as np

        out[present] = np.asarray(hashed, dtype=object)[codes[present]]
    return out.astype(pd.StringDtype(na_value=float("nan")))


def apply_decisions(
    frame: pd.DataFrame, decisions: Mapping[str, Decision], key: bytes | None
) -> pd.DataFrame:
    """`drop` columns removed, `hash` columns replaced by keyed hashes, `keep` untouched."""
    dropped = [c for c, d in decisions.items() if d == "drop" and c in frame.columns]
    out = frame.drop(columns=dropped)
    for name, decision in decisions.items():
        if decision == "hash" and name in out.columns:
            if key is None:
                raise ConfigError(f"data.pii.{name}: hash needs a key ({KEY_ENV})")
            out[name] = keyed_hash(out[name], key)
    return out


def check_decided_columns(
    frame: pd.DataFrame, decisions: Mapping[str, Decision], names: Iterable[str], source: str
) -> None:
    """Every column `data.pii` and `data.quasi_identifiers` name exists in the data."""
    present = {str(c) for c in frame.columns}
    missing = [n for n in decisions if n not in present]
    if missing:
        raise DataError(f"{source}: data.pii names column(s) not found: {', '.join(missing)}")
    missing = [n for n in names if n not in present]
    if missing:
        raise DataError(
            f"{source}: data.quasi_identifiers names column(s) not found: {', '.join(missing)}"
        )


def k_anonymity(frame: pd.DataFrame, columns: list[str]) -> KAnonymity | None:
    """The smallest number of rows sharing one combination of `columns` (missing is a value)."""
    if not columns or len(frame) == 0:
        return None
    sizes = frame.groupby(columns, dropna=False, sort=False, observed=True).size()
    return KAnonymity(
        columns=list(columns),
        k=int(sizes.min()),
        groups=len(sizes),
        rows_below_target=int(sizes[sizes < K_TARGET].sum()),
    )


def redact_labels(labels: list[str]) -> list[str]:
    """Category labels of a personal column as `<redacted>#1`, `#2`, ... (order kept)."""
    return [f"{REDACTED}#{i}" for i in range(1, len(labels) + 1)]
