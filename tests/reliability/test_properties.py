"""Property-based bad inputs (hypothesis): random column names (unicode, separators, quotes),
dtypes, nulls, shapes and file formats through `mlops data ingest`, `mlops data validate`,
`mlops drift` and `mlops predict`. The contract for any file: exit 0, 1 or 3; never a traceback;
an error is one line; a failed ingest writes nothing; the input file is never modified."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from conftest import copy_example
from mlops.cli.main import app

EXAMPLES = int(os.environ.get("MLOPS_PROPERTY_EXAMPLES", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_COUNTER = itertools.count()

names = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters=",;\"' \t|"
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def columns(draw: Any, rows: int) -> tuple[str, list[Any]]:
    kind = draw(st.sampled_from(["int", "float", "text", "bool", "null", "mixed"]))
    present = st.booleans() if kind != "null" else st.just(False)
    if kind == "int":
        value: Any = st.integers(-(2**62), 2**62)
    elif kind == "float":
        value = st.floats(allow_nan=True, allow_infinity=True, width=64)
    elif kind == "text":
        value = st.text(max_size=15)
    elif kind == "bool":
        value = st.booleans()
    elif kind == "mixed":
        value = st.one_of(st.integers(-1000, 1000), st.text(max_size=5), st.floats(width=32))
    else:
        value = st.none()
    cells = [
        draw(value) if draw(present) or kind in ("int", "float", "bool") else None
        for _ in range(rows)
    ]
    return kind, cells


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    rows = draw(st.integers(0, 40))
    width = draw(st.integers(1, 5))
    headers = draw(st.lists(names, min_size=width, max_size=width, unique=True))
    data = {}
    for header in headers:
        kind, cells = draw(columns(rows))
        series = pd.Series(cells, dtype="object")
        if kind in ("int", "float", "bool"):
            series = pd.Series(cells)
        data[header] = series
    return pd.DataFrame(data)


def _write(frame: pd.DataFrame, path: Path) -> bool:
    """Write the frame as the file type of `path`; False when pyarrow refuses the mix."""
    try:
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            text = {c: "string" for c in frame.columns if frame[c].dtype == object}
            frame.astype(text).to_parquet(path, index=False)
    except Exception:  # a mix pandas/pyarrow cannot store: not a file a user could hand us
        return False
    return True


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _invoke(*args: str) -> Result:
    env = {"MLOPS_DEBUG": "", "MLOPS_CONFIG": "", "MLOPS_PROJECT": "", "MLOPS_LOG_FORMAT": ""}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=True)


def assert_contract(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-2000:]
    assert result.exit_code in (0, 1, 3), (result.exit_code, text[-2000:])
    if result.exit_code == 1:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr[-2000:]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("property-template") / "project")


def _fresh(example: Path, tmp_path: Path) -> Path:
    path = tmp_path / f"p{next(_COUNTER)}"
    shutil.copytree(example, path)
    return path


@SETTINGS
@given(frame=frames(), suffix=st.sampled_from([".csv", ".parquet"]), data=st.data())
def test_ingest_and_validate_keep_the_contract(
    frame: pd.DataFrame,
    suffix: str,
    data: Any,
    example: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _fresh(example, tmp_path)
    monkeypatch.chdir(project)
    source = project / f"random{suffix}"
    if not _write(frame, source):
        return
    target = data.draw(st.sampled_from(list(frame.columns)))
    digest = _digest(source)
    before = _files(project)
    result = _invoke(
        "--set", f"data.source={source.name}", "--set", f"data.target={json.dumps(target)}",
        "data", "ingest",
    )  # fmt: skip
    assert_contract(result)
    assert _digest(source) == digest, "the input file was modified"
    if result.exit_code != 0:
        assert _files(project) == before, "a failed ingest must write nothing"
        return
    validated = _invoke("data", "validate", str(source))
    assert_contract(validated)


@SETTINGS
@given(reference=frames(), current=frames(), suffix=st.sampled_from([".csv", ".parquet"]))
def test_drift_keeps_the_contract(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    suffix: str,
    example: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _fresh(example, tmp_path)
    monkeypatch.chdir(project)
    ref, cur = project / f"ref{suffix}", project / f"cur{suffix}"
    if not (_write(reference, ref) and _write(current, cur)):
        return
    digests = (_digest(ref), _digest(cur))
    result = _invoke("drift", "--reference", str(ref), "--current", str(cur))
    assert_contract(result)
    assert (_digest(ref), _digest(cur)) == digests


@SETTINGS
@given(frame=frames(), suffix=st.sampled_from([".csv", ".parquet"]), keep=st.integers(0, 7))
def test_predict_keeps_the_contract(
    frame: pd.DataFrame,
    suffix: str,
    keep: int,
    trained_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Random extra columns beside (some of) the model's real inputs; the model is the trained
    example's, scored straight from its run (no registry needed)."""
    monkeypatch.chdir(trained_template)
    test = pd.read_parquet(trained_template / "data" / "processed" / "test.parquet")
    features = [c for c in test.columns if c != "species"][:keep]
    rows = len(frame)
    base = test[features].iloc[np.arange(rows) % len(test)].reset_index(drop=True)
    mixed = pd.concat([base, frame.drop(columns=[c for c in frame.columns if c in base])], axis=1)
    source = tmp_path / f"in{next(_COUNTER)}{suffix}"
    if not _write(mixed, source):
        return
    digest = _digest(source)
    output = tmp_path / f"out{next(_COUNTER)}.parquet"
    uri = json.loads((trained_template / "models" / "run.json").read_text())["model_uri"]
    result = _invoke("predict", str(source), str(output), "--model", str(uri))
    assert_contract(result)
    assert _digest(source) == digest
    if result.exit_code != 0:
        assert not output.exists(), "a failed predict must write nothing"
