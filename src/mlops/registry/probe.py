"""A model whose checks cannot be complete is scored once in a child process before it is trusted.

`--allow-unsafe-model` admits pickle/cloudpickle files and skops types beyond the allowlist:
objects the structure checks (`artifacts.check_structure`) cannot see into, whose loading or
compiled scoring code may read out of bounds. Before such a file is loaded here, a child
process loads the same file and scores a small probe batch (built from the signature, else
zeros of `n_features_in_` columns). A child that dies by a signal or outlives
MLOPS_MODEL_PROBE_TIMEOUT seconds refuses the model with one line; a child that merely raises
(the batch may not fit the model) does not. Verdicts are remembered per file digest, so a
server polling the same file probes it once (a timeout is not remembered: load may be the cause).
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mlops import artifacts
from mlops.errors import MlopsError, ModelLoadError, redact_secrets

log = logging.getLogger(__name__)

PROBE_TIMEOUT_ENV = "MLOPS_MODEL_PROBE_TIMEOUT"
DEFAULT_PROBE_TIMEOUT = 60.0
#: Rows in the probe batch.
PROBE_ROWS = 3
#: Child exit codes (a negative code is a signal: the only kind of death that refuses).
SCORED, RAISED, NOTHING_TO_SCORE = 0, 3, 4

#: file digest -> refusal message (None: the probe passed).
_verdicts: dict[str, str | None] = {}
#: Verdicts kept (oldest forgotten first).
MAX_VERDICTS = 256
_lock = threading.Lock()


def file_digest(data_file: Path, fmt: str) -> str:
    """sha256 of the model file and its serialisation format."""
    try:
        return artifacts.hash_file(data_file, hashlib.sha256(fmt.encode() + b"\0")).hexdigest()
    except OSError as exc:
        raise ModelLoadError(f"{data_file}: cannot read ({exc.strerror or exc})") from exc


def probe_timeout() -> float:
    configured = os.environ.get(PROBE_TIMEOUT_ENV, "").strip()
    if not configured:
        return DEFAULT_PROBE_TIMEOUT
    try:
        value = float(configured)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ModelLoadError(f"{PROBE_TIMEOUT_ENV}={configured!r}: expected a number of seconds")
    return value


def probe(directory: Path, data_file: Path, fmt: str) -> None:
    """Refuse (ModelLoadError) the model in `directory` when scoring it kills a child process."""
    digest = file_digest(data_file, fmt)
    with _lock:
        known = digest in _verdicts
        verdict = _verdicts.get(digest)
    if known:
        if verdict is not None:
            raise ModelLoadError(verdict)
        return
    verdict = _run_child(directory, data_file, fmt)
    with _lock:
        while len(_verdicts) >= MAX_VERDICTS:  # a long-lived server sees many versions
            del _verdicts[next(iter(_verdicts))]
        _verdicts[digest] = verdict
    if verdict is not None:
        raise ModelLoadError(verdict)


def _run_child(directory: Path, data_file: Path, fmt: str) -> str | None:
    timeout = probe_timeout()
    code = "from mlops.registry.probe import child; raise SystemExit(child())"
    argv = [sys.executable, "-c", code, str(directory), str(data_file), fmt]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        # Not remembered, and not a ModelLoadError: a busy machine may be why (a server retries).
        raise MlopsError(
            f"model {data_file}: the probe batch did not finish within {timeout:g} s in the "
            f"scoring process (set {PROBE_TIMEOUT_ENV} to wait longer); refused"
        ) from None
    except OSError as exc:
        # not a verdict on the model (a server retries it): a plain MlopsError
        raise MlopsError(f"model {data_file}: cannot start the probe process ({exc})") from exc
    seconds = time.perf_counter() - started
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = "signal"
        return (
            f"model {data_file}: the probe batch crashed the scoring process "
            f"(signal {-done.returncode}, {name}); refused"
        )
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    tail = redact_secrets(lines[-1]) if lines else ""
    log.debug("probe of %s: exit %d in %.2fs %s", data_file, done.returncode, seconds, tail)
    return None


def probe_batch(model: Any, inputs: list[dict[str, Any]], rows: int = PROBE_ROWS) -> Any:
    """A few rows the model can be asked to score: from the signature's columns, else zeros of
    `feature_names_in_`/`n_features_in_`; None when neither is known."""
    import numpy as np
    import pandas as pd

    named = [spec for spec in inputs if isinstance(spec.get("name"), str)]
    if named and len(named) == len(inputs):
        columns: dict[str, Any] = {}
        for spec in named:
            kind = str(spec.get("type", "double"))
            if kind == "string":
                columns[spec["name"]] = ["a", "b", ""][:rows] + [""] * max(0, rows - 3)
            elif kind == "boolean":
                columns[spec["name"]] = np.arange(rows) % 2 == 1
            elif kind in ("long", "integer"):
                columns[spec["name"]] = np.arange(rows, dtype=np.int64)
            elif kind == "datetime":
                columns[spec["name"]] = pd.Timestamp(0) + pd.to_timedelta(np.arange(rows), "D")
            else:
                columns[spec["name"]] = np.arange(rows, dtype=np.float64)
        return pd.DataFrame(columns)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return pd.DataFrame(np.zeros((rows, len(names))), columns=[str(n) for n in names])
    width = getattr(model, "n_features_in_", None)
    if isinstance(width, int | np.integer) and width > 0:
        return np.zeros((rows, int(width)))
    return None


def child() -> int:
    """The probe process: load argv's model file as the parent would, score the probe batch."""
    directory, data_file, fmt = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    try:
        from mlops import artifacts
        from mlops.registry.local import read_mlmodel, signature_inputs

        inputs = signature_inputs(read_mlmodel(directory), directory / "MLmodel")
        if fmt == "skops":
            model = artifacts.load_model(data_file, allow_unsafe=True)
        else:
            model = _unpickle(data_file, fmt)
        batch = probe_batch(model, inputs)
        if batch is None:
            return NOTHING_TO_SCORE
        model.predict(batch)
        if hasattr(model, "predict_proba"):
            model.predict_proba(batch)
    except Exception as exc:  # the batch may not fit the model: not a refusal
        sys.stderr.write(f"probe raised {type(exc).__name__}: {exc}\n")
        return RAISED
    return SCORED


def _unpickle(data_file: Path, fmt: str) -> Any:
    """What MLflow's sklearn flavor does for these formats, without importing MLflow (seconds)."""
    with data_file.open("rb") as handle:
        if fmt == "cloudpickle":
            import cloudpickle  # type: ignore[import-untyped]

            return cloudpickle.load(handle)
        import pickle

        return pickle.load(handle)


def forget() -> None:
    """Drop remembered verdicts (tests)."""
    with _lock:
        _verdicts.clear()
