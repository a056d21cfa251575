"""Serve capability: MLflow's scoring protocol over a lean ASGI app, with metrics and hot reload.

Nothing is loaded at import: `create_app` returns an app whose model loads after startup.
"""

from mlops.serve.app import ScoringApp, create_app
from mlops.serve.model_holder import ModelHolder, ServingModel
from mlops.serve.options import ServeOptions
from mlops.serve.server import address, bind, run

__all__ = [
    "ModelHolder",
    "ScoringApp",
    "ServeOptions",
    "ServingModel",
    "address",
    "bind",
    "create_app",
    "run",
]
