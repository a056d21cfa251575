"""`mlops init`: a complete, working project from a data file, rendered from packaged templates.

The templates (`mlops/templates/project/*.j2`, shipped in the wheel) are rendered with Jinja2
from a `ProjectSpec`: the task inferred from the target, gates that fit the task and the class
balance, the registry name. This repository's own example files are the same templates
rendered with `EXAMPLE` (a test asserts it). `dvc.yaml` comes from the stage list
(`mlops.pipeline`), not from a template.
"""

from __future__ import annotations

from mlops.scaffold._init import (
    InitResult,
    init_project,
    plan,
)
from mlops.scaffold._render import (
    EXAMPLE,
    EXAMPLE_FILES,
    MAX_CLASS_VALUES,
    MONITORING_FILES,
    RARE_CLASS_SHARE,
    TEMPLATES,
    TUNE_SPACES,
    ProjectSpec,
    default_gates,
    infer_task,
    render,
    requirement,
)

__all__ = [
    "EXAMPLE",
    "EXAMPLE_FILES",
    "MAX_CLASS_VALUES",
    "MONITORING_FILES",
    "RARE_CLASS_SHARE",
    "TEMPLATES",
    "TUNE_SPACES",
    "InitResult",
    "ProjectSpec",
    "default_gates",
    "infer_task",
    "init_project",
    "plan",
    "render",
    "requirement",
]
