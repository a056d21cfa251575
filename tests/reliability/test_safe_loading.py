"""Model loading trusts our allowlist, not the artifact: pickle formats and widened skops
trust lists are refused unless the user passes --allow-unsafe-model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest

from conftest import open_store
from mlops import artifacts, registry

MLOPS = Path(sys.executable).parent / "mlops"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_CONFIG", "MLOPS_DEBUG")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", OMP_NUM_THREADS="1")
    env.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
    return subprocess.run([str(MLOPS), *args], env=env, capture_output=True, text=True, timeout=300)


def signature(project: Path) -> Any:
    import pandas as pd
    from mlflow.models import infer_signature

    features = pd.read_parquet(project / "data/processed/test.parquet").drop(columns=["species"])
    return infer_signature(features.head(5), trained_pipeline(project).predict(features.head(5)))


def register_as_champion(model: Any, **log_kwargs: Any) -> str:
    store = open_store()
    with store.run():
        info = mlflow.sklearn.log_model(model, name="model", **log_kwargs)
    version = registry.register(store, info.model_uri, {})
    registry.set_alias(store, "champion", version.version)
    return version.version


def trained_pipeline(project: Path) -> Any:
    return artifacts.load_model(project / "models" / "model.skops")


@pytest.mark.slow
def test_a_cloudpickle_model_is_refused_unless_allowed(
    trained_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # only to log it here
    register_as_champion(
        trained_pipeline(trained_project),
        serialization_format="cloudpickle",
        signature=signature(trained_project),
    )
    output = trained_project / "scored.parquet"
    refused = run("predict", "data/processed/test.parquet", str(output))
    assert refused.returncode == 1, refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "cloudpickle" in line and "--allow-unsafe-model" in line
    assert "Traceback" not in refused.stderr
    assert not output.exists()
    allowed = run("--allow-unsafe-model", "predict", "data/processed/test.parquet", str(output))
    assert allowed.returncode == 0, allowed.stderr
    assert output.exists()


@pytest.mark.slow
def test_a_skops_model_that_widens_its_own_trust_list_is_refused(trained_project: Path) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipeline = trained_pipeline(trained_project)
    # Whoever wrote this artifact trusts `os.system`; our allowlist does not.
    widened = Pipeline([("shell", FunctionTransformer(os.system)), ("model", pipeline)])
    data = __import__("skops.io", fromlist=["dumps"]).dumps(widened)
    extra = artifacts.untrusted_types(data)
    assert set(extra) - artifacts.TRUSTED_MODEL_TYPES, (
        "the example must need a type we do not trust"
    )
    register_as_champion(
        widened,
        serialization_format="skops",
        skops_trusted_types=extra,
        signature=signature(trained_project),
    )
    refused = run("predict", "data/processed/test.parquet", "out.parquet")
    assert refused.returncode == 1, refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert "outside the trusted allowlist" in line
    assert not (trained_project / "out.parquet").exists()
