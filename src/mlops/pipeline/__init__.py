"""The pipeline is data: one stage list, the single source of `dvc.yaml`.

`mlops pipeline write` renders the list for a project (its configured paths, its data source,
its code or toolkit version as dependencies); `mlops pipeline check` says when `dvc.yaml` has
drifted from it. No path is written twice by hand.
"""

from mlops.pipeline._run import STAGE_GRACE_SECONDS, RunResult, run
from mlops.pipeline.stages import (
    DRIFT_SUMMARY,
    DVC_FILE,
    TOOLKIT_FILE,
    TOOLKIT_KEY,
    TUNE_DVC_FILE,
    Out,
    Pipeline,
    Stage,
    check,
    is_toolkit_repo,
    render,
    stage_list,
    toolkit_file,
    tree,
    tune_stages,
    write,
)

__all__ = [
    "DRIFT_SUMMARY",
    "DVC_FILE",
    "STAGE_GRACE_SECONDS",
    "TOOLKIT_FILE",
    "TOOLKIT_KEY",
    "TUNE_DVC_FILE",
    "Out",
    "Pipeline",
    "RunResult",
    "Stage",
    "check",
    "is_toolkit_repo",
    "render",
    "run",
    "stage_list",
    "toolkit_file",
    "tree",
    "tune_stages",
    "write",
]
