"""Every MLflow tag and metric name the toolkit writes or reads across modules: one place.

MLflow-free (scoring processes read version tags too).
"""

from __future__ import annotations

PREFIX = "mlops."

# --------------------------------------------------------------------------- run tags
#: Lineage: code, params and data a run was trained from.
GIT_COMMIT = f"{PREFIX}git_commit"
GIT_DIRTY = f"{PREFIX}git_dirty"
PARAMS_SHA256 = f"{PREFIX}params_sha256"
VERSION = f"{PREFIX}version"
OVERRIDES = f"{PREFIX}overrides"
ESTIMATOR = f"{PREFIX}estimator"
STAGE = f"{PREFIX}stage"
DVC_EXPERIMENT = f"{PREFIX}dvc_experiment"
TRAIN_MD5 = f"{PREFIX}data.train_md5"
TEST_MD5 = f"{PREFIX}data.test_md5"
#: The process that owns a run (orphan reaping after kill -9).
PID = f"{PREFIX}pid"
PID_START = f"{PREFIX}pid_start"
HOST = f"{PREFIX}host"
REAPED = f"{PREFIX}reaped"
#: Tuning: the study a run belongs to, and a child run's trial number and outcome.
STUDY = f"{PREFIX}study"
TRIAL = f"{PREFIX}trial"
TRIAL_STATE = f"{PREFIX}trial.state"
TRIAL_ERROR = f"{PREFIX}trial.error"
#: Verdicts recorded on a run.
GATE_PASSED = f"{PREFIX}gate.passed"
PROMOTION_VERDICT = f"{PREFIX}promotion.verdict"

# --------------------------------------------------------------------------- version tags
RUN_ID = f"{PREFIX}run_id"
VERDICT = f"{PREFIX}verdict"
DECIDED_BY = f"{PREFIX}decided_by"
DECIDED_AT = f"{PREFIX}decided_at"
REASON = f"{PREFIX}reason"
FORCED = f"{PREFIX}forced"
#: Set on a version the champion was rolled back from: it is not promoted again unforced.
ROLLED_BACK = f"{PREFIX}rolled_back"
METRIC_PREFIX = f"{PREFIX}metric."

#: The lineage tags copied from a run onto its registered version and into decision records.
LINEAGE = (GIT_COMMIT, GIT_DIRTY, PARAMS_SHA256, VERSION, ESTIMATOR, TRAIN_MD5, TEST_MD5)


def data_md5(name: str) -> str:
    """The tag holding the md5 of a named dataset (`train`, `test`)."""
    return f"{PREFIX}data.{name}_md5"


def metric(name: str) -> str:
    """The version tag holding a test metric."""
    return f"{METRIC_PREFIX}{name}"
