"""Typed configuration: `params.yaml` (the experiment) + `configs/<env>.yaml` (the environment).

This is the only package that reads YAML. Both files load into frozen pydantic models with
`extra="forbid"`, so a typo is an error, not a silent default.
"""

from __future__ import annotations

from mlops.catalog import Task
from mlops.config._checks import check_params
from mlops.config._editing import set_values
from mlops.config._loading import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG,
    DEFAULT_PARAMS,
    Config,
    apply_overrides,
    flatten,
    load_config,
    load_params,
    load_settings,
    parse_override,
    read_yaml,
    resolve_config_path,
)
from mlops.config._params import (
    CardParams,
    CsvParams,
    DataParams,
    DriftMethod,
    DriftParams,
    GateParams,
    ModelParams,
    Params,
    SliceGate,
    SpaceSpec,
    SpaceType,
    SplitParams,
    Threshold,
    TrainParams,
    TuneParams,
)
from mlops.config._settings import (
    CaptureSettings,
    DvcSettings,
    MonitorSettings,
    PathSettings,
    PredictSettings,
    RegistrySettings,
    ServeSettings,
    Settings,
    TrackingSettings,
    TuneSettings,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG",
    "DEFAULT_PARAMS",
    "CaptureSettings",
    "CardParams",
    "Config",
    "CsvParams",
    "DataParams",
    "DriftMethod",
    "DriftParams",
    "DvcSettings",
    "GateParams",
    "ModelParams",
    "MonitorSettings",
    "Params",
    "PathSettings",
    "PredictSettings",
    "RegistrySettings",
    "ServeSettings",
    "Settings",
    "SliceGate",
    "SpaceSpec",
    "SpaceType",
    "SplitParams",
    "Task",
    "Threshold",
    "TrackingSettings",
    "TrainParams",
    "TuneParams",
    "TuneSettings",
    "apply_overrides",
    "check_params",
    "flatten",
    "load_config",
    "load_params",
    "load_settings",
    "parse_override",
    "read_yaml",
    "resolve_config_path",
    "set_values",
]
