"""The SQLite reader's filter translation against MLflow's own parser: whatever it translates,
MLflow accepts and reads the same way (type, key, comparator, value); the rest is MLflow's."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from mlops.tracking.runs._filters import parse_filter

ENTITIES = [
    "metrics", "metric", "params", "param", "parameters", "parameter", "tags", "tag",
    "attributes", "attribute", "attr", "run", "METRICS", "Metrics", "dataset", "nonsense",
]  # fmt: skip
KEYS = [
    "test_roc_auc", "a-b", "a/b", "a.b", "model.params.max_iter", "_x", "1a", "a.1b", "x$y",
    "`a-b`", "`a b`", "`model.estimator`", '"a-b"', '"a b"', "`x'; DROP TABLE runs; --`",
    "status", "run_name", "run_id", "start_time", "end_time", "user_id", "créé", "`a`b`",
]  # fmt: skip
OPERATORS = ["=", "!=", "<>", ">", ">=", "<", "<=", "==", "LIKE", "IN"]
VALUES = [
    "1", "-1", "+1", "0.5", ".5", "1.", "1e-3", "1E3", "1e+3", "1.5e3", "1.e3", "-.5", "0x1F",
    "'x'", "'it''s'", "'a and b'", "''", '"x"', '""', "'FINISHED'", "x", "'1'", "'a\\b'",
]  # fmt: skip
EXTRA = [
    "metrics.a > 1 and params.b = 'x'",
    "metrics.a > 1 AND params.b = 'x'",
    "metrics.a > 1 And tags.b != 'x'",
    "metrics.a > 1 and",
    "metrics.a > 1 or metrics.b < 2",
    "metrics.a > 1; metrics.b < 2",
    "metrics.a>1",
    "  metrics.a   >=   1  ",
    "metrics.a > 1 -- comment",
    "metrics.a > 1 /* c */",
    "params.p = 'x and params.q = y'",
    'params.p = "x and params.q = y"',
    "tags.`x'; DROP TABLE runs; --` = 'a' and metrics.m <= 1e-3",
    "metrics.a\t>\n1",
    "(metrics.a > 1)",
    "metrics.a IS NULL",
    "params.a IS NOT NULL",
    "attributes.run_id IN ('a', 'b')",
    "metrics.a > 1 and and metrics.b > 1",
]


def mlflow_reads(text: str) -> list[tuple[str, str, str, Any]] | None:
    """MLflow's reading of a runs filter (its parser, then the store's comparator checks), or
    None when MLflow rejects it."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchUtils

    try:
        parsed = SearchUtils.parse_search_filter(text)
        for item in parsed:
            kind, key, op = item["type"], item["key"], item["comparator"]
            if not (
                SearchUtils.is_metric(kind, op)
                or SearchUtils.is_param(kind, op)
                or SearchUtils.is_tag(kind, op)
                or SearchUtils.is_attribute(kind, key, op)
            ):
                return None  # a dataset filter: not one the SQLite reader translates either
    except MlflowException:
        return None
    return [(i["type"], i["key"], i["comparator"], _value(i["type"], i["value"])) for i in parsed]


def _value(kind: str, value: Any) -> Any:
    if kind == "metric" or isinstance(value, int | float):
        return float(value)
    return value


def ours(text: str) -> list[tuple[str, str, str, Any]] | None:
    parsed = parse_filter(text)
    if parsed is None:
        return None
    return [(c.type, c.key, c.comparator, _value(c.type, c.value)) for c in parsed]


CORPUS = [
    f"{entity}.{key} {op} {value}"
    for entity, key, op, value in itertools.product(ENTITIES, KEYS, OPERATORS, VALUES)
] + EXTRA


def test_what_sqlite_translates_mlflow_reads_the_same_way() -> None:
    translated = 0
    for text in CORPUS:
        mine = ours(text)
        if mine is None:
            continue
        translated += 1
        assert mlflow_reads(text) == mine, text
    assert translated > 1000  # the direct path still covers the common filters


@pytest.mark.parametrize(
    "text",
    [
        "metrics.a-b > 1",  # an unquoted key with a dash: MLflow reads a subtraction
        "metrics.a/b > 1",
        "METRICS.a > 1",  # entity names are lower case
        "metrics.a <> 1",  # not one of MLflow's comparators
        "metrics.a > +1",
        "metrics.a > 1e+3",
    ],
)
def test_what_mlflow_rejects_is_left_to_mlflow(text: str) -> None:
    assert ours(text) is None and mlflow_reads(text) is None


def test_quoted_keys_are_translated() -> None:
    for text in ("metrics.`a-b` > 1", 'metrics."a-b" > 1', "params.`model.estimator` = 'rf'"):
        assert ours(text) is not None and mlflow_reads(text) == ours(text), text
