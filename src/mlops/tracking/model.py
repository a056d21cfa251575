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
SKOPS_FILE = "model.skops"


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
    """`mlflow.sklearn` for `Model.log`, writing the model directory from one skops dump.

    `mlflow.sklearn.save_model` dumps the model with skops and loads it straight back to check
    its types (~0.4 s for a 300-tree model), then `Model.log` reloads it again to validate a
    serving example. Here the pipeline is dumped once, its types are checked on the bytes
    (`skops.io.get_untrusted_types`, no load) by the caller, and the directory is the one
    `mlflow.sklearn` writes: `model.skops`, `MLmodel` (sklearn + python_function flavors,
    signature, input example), `requirements.txt`, `conda.yaml`, `python_env.yaml`. The bytes
    are the caller's one dump, which is also `models/model.skops` (what DVC tracks).
    """

    __name__ = "mlflow.sklearn"

    def __init__(self, model_bytes: bytes) -> None:
        self.model_bytes = model_bytes

    def save_model(
        self,
        path: str,
        mlflow_model: Any,
        sk_model: Any,
        signature: Any = None,
        input_example: Any = None,
        pip_requirements: list[str] | None = None,
        skops_trusted_types: list[str] | None = None,
        **_: Any,
    ) -> None:
        import sklearn
        import yaml
        from mlflow import pyfunc
        from mlflow.models.utils import _save_example
        from mlflow.utils.environment import _process_pip_requirements, _PythonEnv

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=False)
        _save_example(mlflow_model, input_example, path)
        if signature is not None:
            mlflow_model.signature = signature
        (directory / SKOPS_FILE).write_bytes(self.model_bytes)
        pyfunc.add_to_model(
            mlflow_model,
            loader_module="mlflow.sklearn",
            model_path=SKOPS_FILE,
            conda_env="conda.yaml",
            python_env="python_env.yaml",
            predict_fn="predict",
        )
        mlflow_model.add_flavor(
            "sklearn",
            pickled_model=SKOPS_FILE,
            sklearn_version=sklearn.__version__,
            serialization_format="skops",
            code=None,
            skops_trusted_types=skops_trusted_types,
        )
        mlflow_model.model_size_bytes = sum(
            f.stat().st_size for f in directory.rglob("*") if f.is_file()
        )
        mlflow_model.save(str(directory / "MLmodel"))
        conda_env, requirements, _constraints = _process_pip_requirements(  # type: ignore[no-untyped-call]
            None, pip_requirements, None
        )
        (directory / "conda.yaml").write_text(yaml.safe_dump(conda_env, default_flow_style=False))
        (directory / "requirements.txt").write_text("\n".join(requirements))
        _PythonEnv.current().to_yaml(str(directory / "python_env.yaml"))  # type: ignore[no-untyped-call]


def log_sklearn_model(
    model: Any,
    model_bytes: bytes,
    example: pd.DataFrame,
    example_predictions: Any,
    trusted_types: list[str],
) -> LoggedModel:
    """Log the fitted pipeline, already dumped with skops (`model_bytes`), with its signature
    and input example."""
    from mlflow.models import Model, infer_signature

    # The signature takes the example's types as given: MLflow refuses int64 input for a column
    # declared double, so the caller decides which integer columns may hold missing values.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signature = infer_signature(example, example_predictions)
    from mlflow.exceptions import MlflowException

    flavor = _SklearnFlavor(model_bytes)
    try:
        with warnings.catch_warnings():  # MLflow's integer-column hint: the caller decided
            warnings.simplefilter("ignore")
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
