"""MLflow tracking adapter: the `Store`, runs, params, metrics, datasets, the model, lineage.

With `registry`, the only package that imports mlflow (an MLflow upgrade is a two-file change).
Functions here act on the active run a `Store.run()` opened; stages never connect themselves.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import TrackingError, first_line, redact_secrets
from mlops.tracking import tags
from mlops.tracking.lineage import GitState, dvc_experiment, git_state, lineage_tags, run_name
from mlops.tracking.model import MODEL_ARTIFACT, LoggedModel, log_sklearn_model, pip_requirements
from mlops.tracking.processes import process_tags, reap_orphaned_runs
from mlops.tracking.store import Store
from mlops.tracking.uri import TrackingUri, parse_tracking_uri

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MODEL_ARTIFACT",
    "GitState",
    "LoggedModel",
    "Store",
    "TrackingUri",
    "dvc_experiment",
    "first_line",
    "git_state",
    "lineage_tags",
    "log_artifacts",
    "log_dataset",
    "log_metrics",
    "log_params",
    "log_sklearn_model",
    "parse_tracking_uri",
    "pip_requirements",
    "process_tags",
    "reap_orphaned_runs",
    "redact",
    "run_name",
    "set_tags",
    "tags",
]

log = logging.getLogger(__name__)


def redact(uri: str) -> str:
    """Hide credentials in a URI (`user:pass@host` -> `***@host`)."""
    return redact_secrets(uri)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    import mlflow

    mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in metrics.items()})


def set_tags(values: Mapping[str, str]) -> None:
    import mlflow

    mlflow.set_tags(dict(values))


def log_artifacts(path: Path, artifact_path: str | None = None) -> None:
    import mlflow

    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path=artifact_path)
    elif path.exists():
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_dataset(
    frame: pd.DataFrame, *, path: Path, digest: str, name: str, context: str, target: str
) -> None:
    """Log a split as an MLflow dataset input: the UI's Datasets panel shows it.

    The digest is the file's md5 (the same as the lineage tag and DVC's hash), the source its path.
    """
    import mlflow
    import mlflow.data.pandas_dataset
    from mlflow.exceptions import MlflowException

    try:
        # Source-resolution and integer-schema hints: MLflow infers the dataset's schema lazily,
        # when log_input serialises it, so the filter must cover that call too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = mlflow.data.pandas_dataset.from_pandas(
                frame, source=str(path), targets=target, name=name, digest=digest[:36]
            )
            mlflow.log_input(dataset, context=context)
    except MlflowException as exc:
        raise TrackingError(f"cannot log dataset {name}: {first_line(exc)}") from exc
