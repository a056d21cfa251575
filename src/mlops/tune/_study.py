"""The Optuna study of a tuning: where it is stored, its name, and resuming it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from mlops.errors import ConfigError, TrackingError, first_line, redact_secrets
from mlops.project import Project
from mlops.tracking import Store
from mlops.tune._trial import make_pruner, open_storage

log = logging.getLogger(__name__)

#: The study's user attribute holding its MLflow parent run (a resumed study reuses it).
PARENT_RUN_ATTR = "mlflow_parent_run_id"
#: The study's file beside a SQLite tracking store (own file: Optuna and MLflow both keep an
#: `alembic_version` table, so they cannot share one database).
STUDY_FILE = "optuna.db"


def storage_url(project: Project, store: Store) -> str:
    """`tune.storage`, else `optuna.db` beside a SQLite tracking store, else `.mlops/optuna.db`."""
    configured = project.settings.tune.storage
    if configured:
        return configured
    database = store.location.path if store.location.is_sqlite else None
    folder = database.parent if database is not None else project.root / ".mlops"
    return f"sqlite:///{(folder / STUDY_FILE).absolute()}"


def open_study(
    url: str,
    name: str,
    *,
    direction: Literal["minimize", "maximize"],
    seed: int,
    pruner: str,
    fresh: bool,
    parallel: bool,
) -> Any:
    """Create the study, or load it to resume (`fresh`: delete it first)."""
    import optuna
    from optuna.exceptions import OptunaError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_storage(url)
        if fresh and name in {s.study_name for s in storage.get_all_studies()}:
            optuna.delete_study(study_name=name, storage=storage)
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=parallel)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            pruner=make_pruner(pruner),
            direction=direction,
            load_if_exists=True,
        )
    except (OptunaError, ImportError) as exc:
        raise TrackingError(f"optuna storage {redact_secrets(url)}: {first_line(exc)}") from exc
    except Exception as exc:  # sqlalchemy errors: unreachable or unusable database
        raise TrackingError(f"optuna storage {redact_secrets(url)}: {first_line(exc)}") from exc
    found = study.direction.name.lower()
    if found != direction:
        raise ConfigError(
            f"study {name!r} maximises/minimises differently ({found}, wanted {direction}); "
            "use --fresh or another --study"
        )
    return study


def fail_stale_trials(study: Any) -> list[int]:
    """Trials left RUNNING by a tuning that died (one tuning per study at a time): FAIL."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        log.warning("trial %d was left running by an interrupted tuning; marked FAIL", trial.number)
    return [t.number for t in stale]


def parent_run(study: Any, store: Store) -> str | None:
    """The study's parent run, when it still exists in the tracking store."""
    run_id = study.user_attrs.get(PARENT_RUN_ATTR)
    if not run_id:
        return None
    try:
        store.get_run(str(run_id))
    except TrackingError:
        return None
    return str(run_id)
