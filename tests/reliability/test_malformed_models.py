"""Models whose types are all on the allowlist but whose arrays point outside themselves (they
made scikit-learn's compiled predict read out of bounds: exit -11 in predict, drift, promote and
the server), and zip bombs: refused at load with one line, before anything is scored."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mlops import artifacts
from mlops.errors import ModelLoadError

X, Y = load_iris(return_X_y=True)


def _tree(field: str, value: int) -> Any:
    model = DecisionTreeClassifier(random_state=0).fit(X, Y)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][0] = value
    model.tree_.__setstate__({**state, "nodes": nodes})
    return model


def _hgb(field: str, value: int) -> Any:
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, Y)
    predictor = model._predictors[0][0]
    predictor.nodes = predictor.nodes.copy()
    inner = np.flatnonzero(predictor.nodes["is_leaf"] == 0)
    predictor.nodes[field][inner[0]] = value
    return model


def _linear() -> Any:
    model = LogisticRegression(max_iter=500).fit(X, Y)
    model.coef_ = model.coef_[:, :2]
    return model


MALFORMED: dict[str, tuple[Callable[[], Any], str]] = {
    "tree child out of range": (lambda: _tree("left_child", 10**6), "child index"),
    "tree cycle": (lambda: _tree("left_child", 0), "child index"),
    "tree feature out of range": (lambda: _tree("feature", 10**6), "feature index"),
    "boosting child out of range": (lambda: _hgb("left", 60_000), "child index"),
    "boosting feature out of range": (lambda: _hgb("feature_idx", 60_000), "feature index"),
    # Native categorical support needs types beyond the allowlist (this toolkit one-hot
    # encodes); a numeric model whose node claims a categorical split would read a bitset.
    "boosting categorical split on a numeric model": (
        lambda: _hgb("is_categorical", 1),
        "categor",
    ),
    "linear coefficients of another width": (_linear, "coef_ has shape"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_structures_are_refused_at_load(name: str, tmp_path: Path) -> None:
    make, expected = MALFORMED[name]
    path = tmp_path / "model.skops"
    artifacts.save_model(path, make())
    with pytest.raises(ModelLoadError) as caught:
        artifacts.load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: malformed model") and expected in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=20, random_state=0),
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
        LogisticRegression(max_iter=500),
        DecisionTreeClassifier(random_state=0),
    ],
    ids=lambda m: type(m).__name__,
)
def test_well_formed_models_load_and_predict_as_saved(model: Any, tmp_path: Path) -> None:
    fitted = model.fit(X, Y)
    path = tmp_path / "model.skops"
    artifacts.save_model(path, fitted)
    loaded = artifacts.load_model(path)
    assert (loaded.predict(X) == fitted.predict(X)).all()


def _bomb(path: Path, member_bytes: int) -> None:
    """A valid skops archive plus one member of `member_bytes` zeros (deflates ~1000:1)."""
    artifacts.save_model(path, DecisionTreeClassifier().fit(X, Y))
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("padding.npy", "w", force_zip64=True) as member,
    ):
        block = bytes(1 << 20)
        for _ in range(member_bytes >> 20):
            member.write(block)


def test_a_zip_bomb_is_refused_before_decompressing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.skops"
    _bomb(path, 64 << 20)
    assert path.stat().st_size < 1 << 20
    monkeypatch.setenv(artifacts.MAX_BYTES_ENV, str(16 << 20))
    started = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"unpacks to 67,\d{3},\d{3} bytes from .* \(limit"):
        artifacts.load_model(path)
    assert time.perf_counter() - started < 30  # not a timing goal: a runaway guard
    monkeypatch.setenv(artifacts.MAX_BYTES_ENV, "lots")
    with pytest.raises(ModelLoadError, match=r"MLOPS_MAX_MODEL_BYTES='lots'"):
        artifacts.load_model(path)


def test_a_model_file_that_is_not_an_archive_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip" * 100)
    with pytest.raises(ModelLoadError, match=r"not a skops model file"):
        artifacts.load_model(path)


@pytest.mark.slow
def test_a_malformed_champion_is_one_line_in_predict_not_a_crash(trained_project: Path) -> None:
    """The pipeline's own trees, one child index pointed past the end: `mlops predict` died with
    a segmentation fault (exit -11) before; now exit 1, one line, nothing written."""
    from tests.reliability.test_safe_loading import register_as_champion, run, signature

    pipeline = artifacts.load_model(trained_project / "models" / "model.skops")
    model = pipeline.steps[-1][1]
    predictor = model._predictors[0][0]
    predictor.nodes = predictor.nodes.copy()
    inner = np.flatnonzero(predictor.nodes["is_leaf"] == 0)
    predictor.nodes["left"][inner[0]] = 60_000
    data, types = artifacts.dump_model(pipeline)
    assert data and types
    register_as_champion(
        pipeline,
        serialization_format="skops",
        skops_trusted_types=types,
        signature=signature(trained_project),
    )
    refused = run("predict", "data/processed/test.parquet", "out.parquet")
    assert refused.returncode == 1, (refused.returncode, refused.stderr[-2000:])
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "malformed model" in line and "child index" in line
    assert "Traceback" not in refused.stderr
    assert not (trained_project / "out.parquet").exists()
