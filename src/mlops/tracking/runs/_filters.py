"""MLflow search filters the SQLite reader translates: simple comparisons joined by AND."""

from __future__ import annotations

import re
from typing import Any

_ENTITY = {
    "metrics": "metric", "metric": "metric",
    "params": "param", "param": "param", "parameters": "param", "parameter": "param",
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
_CLAUSE = re.compile(
    r"""\s*(?P<entity>[A-Za-z]+)\.(?:`(?P<bq>[^`]+)`|"(?P<dq>[^"]+)"|(?P<key>[\w.\-/]+))"""
    r"""\s*(?P<op>!=|<>|>=|<=|=|>|<)\s*"""
    r"""(?:'(?P<sq_value>[^'\\]*)'|"(?P<dq_value>[^"\\]*)"|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))\s*"""
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}


def sql_filter(text: str) -> tuple[str, list[Any]] | None:
    """SQL for a filter of simple comparisons joined by AND (on `runs r`), or None when the
    filter needs MLflow's own parser. Quoted values containing ` and ` are left to MLflow."""
    clauses: list[str] = []
    args: list[Any] = []
    for part in _AND.split(text.strip()):
        found = _CLAUSE.fullmatch(part)
        if found is None:
            return None
        entity = _ENTITY.get(found["entity"].lower())
        key = found["bq"] or found["dq"] or found["key"]
        op = "!=" if found["op"] == "<>" else found["op"]
        number, string = found["number"], found["sq_value"]
        if string is None:
            string = found["dq_value"]
        if entity is None or not key:
            return None
        if entity == "metric":
            if number is None:
                return None
            clauses.append(
                " AND EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid "
                f"AND m.key = ? AND m.is_nan = 0 AND m.value {op} ?)"
            )
            args += [key, float(number)]
        elif entity in ("param", "tag"):
            if string is None or op not in ("=", "!="):
                return None
            table = _TABLES[entity]
            clauses.append(
                f" AND EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid "
                f"AND x.key = ? AND x.value {op} ?)"
            )
            args += [key, string]
        else:
            column, numeric = _ATTRIBUTES.get(key, (None, False))
            if column is None:
                return None
            if numeric:
                if number is None:
                    return None
                args.append(float(number))
            else:
                if string is None or op not in ("=", "!="):
                    return None
                args.append(string)
            clauses.append(f" AND r.{column} {op} ?")
    return "".join(clauses), args
