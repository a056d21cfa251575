"""Models whose types are all on the allowlist but whose arrays point outside themselves (they
made scikit-learn's compiled predict read out of bounds: exit -11 in predict, drift, promote and
the server), and zip bombs: refused at load with one line, before anything is scored."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mlops import artifacts
from mlops.errors import MlopsError, ModelLoadError

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


def _gradient_boosting(value: int) -> Any:
    """GradientBoosting keeps its trees in an object array (the walk once skipped arrays)."""
    model = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, Y)
    tree = model.estimators_[1, 2].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = value
    tree.__setstate__({**state, "nodes": nodes})
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
    "gradient boosting tree child out of range": (
        lambda: _gradient_boosting(10**6),
        "child index",
    ),
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
        GradientBoostingClassifier(n_estimators=5, random_state=0),
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
    loaded, complete = artifacts.load_model_checked(path)
    assert (loaded.predict(X) == fitted.predict(X)).all()
    assert complete  # every structure reached: no probe process for these


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


# --------------------------------------------------------------------------- the probe process
# With --allow-unsafe-model (pickle, or skops types beyond the allowlist) the structure checks
# cannot see everything: a child process loads the file and scores a probe batch first.


class _SegfaultWhenUnpickled:
    def __reduce__(self) -> tuple[Any, tuple[()]]:
        import faulthandler

        return faulthandler._sigsegv, ()  # what a hostile or corrupted pickle can do


def _tree_reading_past_its_nodes() -> Any:
    """A fitted tree whose root's left child is a billion nodes past the end: pickle does not
    check it, scikit-learn's compiled predict reads there (a segmentation fault)."""
    return _tree("left_child", 10**9)


def _mlflow_dir(path: Path, model: Any, fmt: str = "cloudpickle", columns: int = 4) -> Path:
    """An MLflow sklearn model directory for `model` (fitted on iris as a frame)."""
    import os

    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    fitted = DecisionTreeClassifier(random_state=0).fit(frame, Y)
    signature = infer_signature(frame.iloc[:5, :columns], fitted.predict(frame.head()))
    kwargs: dict[str, Any] = {"serialization_format": fmt, "signature": signature}
    if fmt == "skops":
        kwargs["skops_trusted_types"] = artifacts.untrusted_types(
            __import__("skops.io").io.dumps(fitted)
        )
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # only to write it here
    try:
        mlflow.sklearn.save_model(fitted, str(path), **kwargs)
    finally:
        os.environ.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
    if model is not None:
        import cloudpickle

        (path / "model.pkl").write_bytes(cloudpickle.dumps(model))
    return path


@pytest.fixture
def fresh_probe() -> Any:
    from mlops.registry import probe

    probe.forget()
    yield probe
    probe.forget()


@pytest.mark.parametrize(
    "make", [_SegfaultWhenUnpickled, _tree_reading_past_its_nodes], ids=["at load", "at predict"]
)
def test_a_model_that_kills_its_process_is_refused_by_the_probe(
    make: Callable[[], Any], tmp_path: Path, fresh_probe: Any
) -> None:
    from mlops import registry

    directory = _mlflow_dir(tmp_path / "model", make())
    with pytest.raises(ModelLoadError) as caught:
        registry.load_model_dir(directory, allow_unsafe=True)
    message = str(caught.value)
    assert message == (
        f"model {directory / 'model.pkl'}: the probe batch crashed the scoring process "
        "(signal 11, SIGSEGV); refused"
    )
    # remembered per file digest: the same file is refused again without a new child
    assert list(fresh_probe._verdicts.values()) == [message]
    with pytest.raises(ModelLoadError, match="probe batch crashed"):
        registry.load_model_dir(directory, allow_unsafe=True)
    assert len(fresh_probe._verdicts) == 1


def test_a_probe_that_only_raises_does_not_refuse(tmp_path: Path, fresh_probe: Any) -> None:
    """The probe batch may not fit a model (strings for numbers): only death refuses."""
    import json

    import yaml

    from mlops import registry

    directory = _mlflow_dir(tmp_path / "model", None)
    meta = yaml.safe_load((directory / "MLmodel").read_text())
    inputs = json.loads(meta["signature"]["inputs"])
    meta["signature"]["inputs"] = json.dumps([{**c, "type": "string"} for c in inputs])
    (directory / "MLmodel").write_text(yaml.safe_dump(meta))
    model, _ = registry.load_model_dir(directory, allow_unsafe=True)
    assert list(model.predict(X[:3])) == list(Y[:3])
    assert list(fresh_probe._verdicts.values()) == [None]


def test_a_probe_past_its_timeout_refuses(
    tmp_path: Path, fresh_probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops import registry

    directory = _mlflow_dir(tmp_path / "model", None)
    monkeypatch.setenv("MLOPS_MODEL_PROBE_TIMEOUT", "0.01")  # no interpreter starts that fast
    with pytest.raises(MlopsError, match=r"did not finish within 0\.01 s .*; refused$"):
        registry.load_model_dir(directory, allow_unsafe=True)
    assert fresh_probe._verdicts == {}  # not remembered: a busy machine may be the cause
    monkeypatch.setenv("MLOPS_MODEL_PROBE_TIMEOUT", "soon")
    fresh_probe.forget()
    with pytest.raises(ModelLoadError, match="MLOPS_MODEL_PROBE_TIMEOUT='soon'"):
        registry.load_model_dir(directory, allow_unsafe=True)


def test_allowlisted_skops_models_are_not_probed(tmp_path: Path, fresh_probe: Any) -> None:
    from mlops import registry

    directory = _mlflow_dir(tmp_path / "model", None, fmt="skops")
    registry.load_model_dir(directory, allow_unsafe=True)
    assert fresh_probe._verdicts == {}


def test_an_allowlisted_model_nested_past_the_structure_walk_is_probed(
    tmp_path: Path, fresh_probe: Any
) -> None:
    """Pipelines nested five deep put a corrupted tree past what the structure walk reaches:
    the check is incomplete, so a child process scores it first (it died: refused)."""
    from sklearn.pipeline import Pipeline

    from mlops import registry

    nested: Any = _tree_reading_past_its_nodes()
    for _ in range(5):
        nested = Pipeline([("inner", nested)])
    directory = _mlflow_dir(tmp_path / "model", None, fmt="skops")
    artifacts.save_model(directory / "model.skops", nested)
    assert not artifacts.load_model_checked(directory / "model.skops")[1]
    with pytest.raises(
        ModelLoadError, match=r"probe batch crashed the scoring process \(signal 11"
    ):
        registry.load_model_dir(directory)


# --------------------------------------------------------------------------- the signature


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle"])
def test_a_signature_of_another_width_is_refused(
    fmt: str, tmp_path: Path, fresh_probe: Any
) -> None:
    from mlops import registry

    directory = _mlflow_dir(tmp_path / "model", None, fmt=fmt, columns=3)
    with pytest.raises(ModelLoadError) as caught:
        registry.load_model_dir(directory, allow_unsafe=fmt != "skops")
    assert str(caught.value) == (
        f"{directory / 'MLmodel'}: the model reads 4 features but its signature lists 3 "
        "columns; refusing to load it"
    )


def test_a_signature_naming_other_columns_is_refused(tmp_path: Path) -> None:
    from mlops import registry

    directory = _mlflow_dir(tmp_path / "model", None, fmt="skops")
    mlmodel = directory / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace('"name": "f3"', '"name": "other"'))
    with pytest.raises(ModelLoadError, match=r"reads column\(s\) 'f3' its signature does not"):
        registry.load_model_dir(directory)


@pytest.mark.slow
def test_a_champion_that_kills_its_process_is_refused_by_predict_and_serve(
    trained_project: Path,
) -> None:
    """A cloudpickle champion (loaded only with --allow-unsafe-model) whose unpickling segfaults:
    predict ended with exit -11 and the server died; now exit 1 with one line, and the server
    stays up answering 503, naming the refusal."""
    import cloudpickle
    import mlflow.sklearn
    from tests.integration.serving import Server, process_env
    from tests.reliability.test_safe_loading import run, signature, trained_pipeline

    from conftest import open_store
    from mlops import registry

    directory = trained_project / "crashing-model"
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # only to write it here
    try:
        mlflow.sklearn.save_model(
            trained_pipeline(trained_project),
            str(directory),
            serialization_format="cloudpickle",
            signature=signature(trained_project),
        )
    finally:
        os.environ.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
    (directory / "model.pkl").write_bytes(cloudpickle.dumps(_SegfaultWhenUnpickled()))
    store = open_store()
    name = store.names.model_name
    store.client.create_registered_model(name)  # the trained project has registered nothing
    version = store.client.create_model_version(name, source=directory.as_uri(), run_id=None)
    registry.set_alias(store, "champion", str(version.version))

    refused = run("--allow-unsafe-model", "predict", "data/processed/test.parquet", "out.parquet")
    assert refused.returncode == 1, (refused.returncode, refused.stderr[-2000:])
    line = refused.stderr.strip().splitlines()[-1]
    assert line == (
        f"error: model {directory / 'model.pkl'}: the probe batch crashed the scoring process "
        "(signal 11, SIGSEGV); refused"
    ), line
    assert "Traceback" not in refused.stderr
    assert not (trained_project / "out.parquet").exists()

    env = {**process_env(), "MLOPS_ALLOW_UNSAFE_MODEL": "1"}
    server = Server.start(trained_project, env=env)
    try:
        reply = server.wait_for("/health", lambda r: r.status == 503 and r.json()["error"])
        assert "probe batch crashed the scoring process (signal 11" in reply.json()["error"]
        assert server.post('{"inputs": [[1]]}').status == 503
        assert server.process.poll() is None
    finally:
        server.stop()
