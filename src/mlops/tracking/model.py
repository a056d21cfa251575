"""Logging the fitted pipeline as an MLflow sklearn model (skops format, one dump)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import TrackingError, first_line

if TYPE_CHECKING:
    import pandas as pd

MODEL_ARTIFACT = "model"


def pip_requirements() -> list[str]:
    """Pinned requirements given explicitly: MLflow's inference costs seconds per model."""
    from importlib.metadata import version

    return [
        f"{name}=={version(name)}"
        for name in ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
    ]


@dataclass(frozen=True)
class LoggedModel:
    uri: str
    #: The skops bytes MLflow wrote: the same file goes to `models/model.skops` (one dump).
    model_bytes: bytes


class _SklearnFlavor:
    """`mlflow.sklearn` for `Model.log`, minus the serving-example re-validation.

    That check reloads the model just written and predicts again (~0.4 s); our own scoring
    already exercised the fitted pipeline. The flavor also hands back the skops bytes it wrote.
    """

    __name__ = "mlflow.sklearn"

    def __init__(self) -> None:
        self.model_bytes = b""

    def save_model(
        self, path: str, mlflow_model: Any, validate_serving_input: bool = True, **kwargs: Any
    ) -> None:
        import mlflow.sklearn

        mlflow.sklearn.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        self.model_bytes = (Path(path) / "model.skops").read_bytes()


def log_sklearn_model(
    model: Any, example: pd.DataFrame, example_predictions: Any, trusted_types: list[str]
) -> LoggedModel:
    """Log the fitted pipeline in skops format with signature and input example."""
    from mlflow.models import Model, infer_signature

    # The signature takes the example's types as given: MLflow refuses int64 input for a column
    # declared double, so the caller decides which integer columns may hold missing values.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signature = infer_signature(example, example_predictions)
    from mlflow.exceptions import MlflowException

    flavor = _SklearnFlavor()
    try:
        info = _log_with(Model, flavor, model, example, trusted_types, signature)
    except (MlflowException, OSError) as exc:
        raise TrackingError(
            f"cannot log the model to the artifact store: {first_line(exc)}"
        ) from exc
    return LoggedModel(uri=str(info.model_uri), model_bytes=flavor.model_bytes)


def _log_with(
    model_class: Any,
    flavor: _SklearnFlavor,
    model: Any,
    example: pd.DataFrame,
    trusted_types: list[str],
    signature: Any,
) -> Any:
    return model_class.log(
        artifact_path=None,
        name=MODEL_ARTIFACT,
        flavor=flavor,
        sk_model=model,
        serialization_format="skops",
        skops_trusted_types=trusted_types or None,
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
        validate_serving_input=False,
    )
