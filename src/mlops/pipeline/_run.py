"""`mlops pipeline run` (`make run`): dvc repro in its own process group, then promote."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops import __version__
from mlops.pipeline.stages import write
from mlops.project import Project


@dataclass(frozen=True)
class RunResult:
    """What `mlops pipeline run` did."""

    changed: list[Path]
    promotion: Any  # mlops.promote.PromotionResult
    drift_rerun: bool


#: Seconds a stage run by dvc has to unwind after an interrupt before it exits hard (its
#: cleanup then fits in the few seconds `mlops pipeline run` waits before killing the rest).
STAGE_GRACE_SECONDS = 1.0


def _dvc(project: Project, *args: str) -> None:
    import os
    import shutil
    import subprocess
    import sys

    from mlops import interrupts
    from mlops.errors import MlopsError

    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    try:
        # Its own process group: an interrupt reaches dvc and the stage it runs, and nothing of
        # them outlives this process (killing dvc alone left its stage running for minutes).
        env = {**os.environ, interrupts.GRACE_ENV: str(STAGE_GRACE_SECONDS)}
        process = subprocess.Popen([dvc, *args], cwd=project.root, env=env, process_group=0)
    except OSError as exc:
        raise MlopsError(f"cannot run dvc ({exc}); is it installed in this environment?") from exc
    returncode = _wait_group(process)
    if returncode != 0:
        raise MlopsError(f"`dvc {' '.join(args)}` failed (exit {returncode}); see its output above")


def _wait_group(process: Any) -> int:
    """Wait for a child leading its own process group; on Ctrl-C/SIGTERM pass the signal on to
    the group and give it a few seconds to stop (its stages end their runs KILLED), then kill
    it; the interrupt then goes on."""
    import os
    import signal
    import subprocess
    import time

    from mlops import interrupts

    def kill(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)

    def alive() -> bool:
        try:
            os.killpg(process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    token = interrupts.on_hard_exit(lambda: kill(signal.SIGKILL))
    try:
        return int(process.wait())
    except KeyboardInterrupt:
        kill(interrupts.received() or signal.SIGINT)
        wait = max(interrupts.grace() - 1, 0.5)  # before this process's own hard exit
        deadline = time.monotonic() + wait
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
        while time.monotonic() < deadline and alive():  # the stage dvc ran outlives it
            time.sleep(0.05)
        kill(signal.SIGKILL)
        process.wait()
        raise
    finally:
        interrupts.discard(token)


def _check_model_once(project: Project) -> None:
    """`train.require_valid_model`, skipped when the same model params already passed with the
    same scikit-learn (importing sklearn costs about a second of a no-op `make run`)."""
    import hashlib
    import json
    from importlib.metadata import version

    from mlops import artifacts

    model = project.params.model.model_dump(mode="json")
    key = json.dumps(
        [model, project.params.data.task, version("scikit-learn"), __version__], sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()
    marker = project.root / ".mlops" / "model-params-checked"
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == digest:
        return
    from mlops.train import require_valid_model

    require_valid_model(project)
    artifacts.write_text(marker, digest + "\n")


def run(project: Project, store: Any) -> RunResult:
    """`make run`: regenerate dvc.yaml, `dvc repro`, promote, and re-run drift when the
    champion moved (so prediction drift is tested against the new champion, first run included)."""
    from mlops.promote import run_promotion, write_champion

    _check_model_once(project)  # hyperparameters checked before any stage runs
    changed = write(project)
    champion = write_champion(project, store)
    before = champion.read_bytes()
    _dvc(project, "repro")
    promotion = run_promotion(project, store)
    rerun = champion.is_file() and champion.read_bytes() != before
    if rerun:
        _dvc(project, "repro", "drift")
    return RunResult(changed, promotion, rerun)
