"""MLflow search filters the SQLite reader translates: simple comparisons joined by AND.

Only a strict subset of MLflow's grammar is translated, each part parsed here exactly as MLflow's
own parser (`mlflow.utils.search_utils.SearchUtils.parse_search_filter`, on sqlparse's tokens)
parses it; anything else, valid or not, is left to MLflow, which answers or rejects it. A key
written bare is dotted words (`metrics.test_roc_auc`, `tags.mlops.gate.passed`); any other key
(`a-b`, `a/b`, a space) must be quoted, `` `a-b` `` or `"a-b"`, as MLflow requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: MLflow's entity names (exactly as it spells them: lower case) and what they mean.
_ENTITY = {
    "metrics": "metric", "metric": "metric",
    "params": "parameter", "param": "parameter", "parameters": "parameter",
    "parameter": "parameter",
    "tags": "tag", "tag": "tag",
    "attributes": "attribute", "attribute": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
#: Attributes the SQLite reader filters on: column, numeric?
_ATTRIBUTES = {
    "status": ("status", False),
    "run_name": ("name", False),
    "run_id": ("run_uuid", False),
    "start_time": ("start_time", True),
    "end_time": ("end_time", True),
}
#: A bare key: ASCII words joined by dots, each starting with a letter (sqlparse's names).
_BARE = r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*"
#: sqlparse's numbers (an exponent, a decimal point, or digits), signed with `-` only.
_NUMBER = r"-?(?:\d+(?:\.\d+)?[eE]-?\d+|\d+\.\d*|\.\d+|\d+)"
_CLAUSE = re.compile(
    rf"""\s*(?P<entity>[a-z]+)\.(?:`(?P<bq>[^`]+)`|"(?P<dq>[^"\\]+)"|(?P<key>{_BARE}))"""
    r"""\s*(?P<op>!=|>=|<=|=|>|<)\s*"""
    rf"""(?:'(?P<sq_value>[^'\\]*)'|"(?P<dq_value>[^"\\]+)"|(?P<number>{_NUMBER}))\s*"""
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_TABLES = {"metric": "latest_metrics", "parameter": "params", "tag": "tags"}


@dataclass(frozen=True)
class Comparison:
    """One comparison as MLflow's parser reads it (its `type`, `key`, `comparator`, `value`)."""

    type: str
    key: str
    comparator: str
    value: str | float


def parse_filter(text: str) -> list[Comparison] | None:
    """The comparisons of a filter the SQLite reader translates, or None when it is MLflow's to
    parse (other grammar, or an error MLflow reports)."""
    found: list[Comparison] = []
    for part in _AND.split(text.strip()):
        match = _CLAUSE.fullmatch(part)
        if match is None:
            return None
        entity = _ENTITY.get(match["entity"])
        key = match["bq"] or match["dq"] or match["key"]
        op, number = match["op"], match["number"]
        string = match["sq_value"] if match["sq_value"] is not None else match["dq_value"]
        if entity is None or not key:
            return None
        if entity == "metric":
            if number is None:
                return None
            found.append(Comparison(entity, key, op, number))
        elif entity in ("parameter", "tag"):
            if string is None or op not in ("=", "!="):
                return None
            found.append(Comparison(entity, key, op, string))
        else:
            column, numeric = _ATTRIBUTES.get(key, (None, False))
            if column is None:
                return None
            if numeric:
                if number is None:
                    return None
                found.append(Comparison(entity, key, op, float(number)))
            else:
                if string is None or op not in ("=", "!="):
                    return None
                found.append(Comparison(entity, key, op, string))
    return found


def sql_filter(text: str) -> tuple[str, list[Any]] | None:
    """SQL for a filter of simple comparisons joined by AND (on `runs r`), or None when the
    filter needs MLflow's own parser (`parse_filter`). Keys and values are SQL parameters."""
    parsed = parse_filter(text)
    if parsed is None:
        return None
    clauses: list[str] = []
    args: list[Any] = []
    for item in parsed:
        op = item.comparator
        if item.type == "metric":
            clauses.append(
                " AND EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid "
                f"AND m.key = ? AND m.is_nan = 0 AND m.value {op} ?)"
            )
            args += [item.key, float(item.value)]
        elif item.type in _TABLES:
            clauses.append(
                f" AND EXISTS (SELECT 1 FROM {_TABLES[item.type]} x WHERE x.run_uuid = r.run_uuid "
                f"AND x.key = ? AND x.value {op} ?)"
            )
            args += [item.key, item.value]
        else:
            column = _ATTRIBUTES[item.key][0]
            clauses.append(f" AND r.{column} {op} ?")
            args.append(item.value)
    return "".join(clauses), args
