"""The model a server scores with: loaded in the background, following its alias, swapped atomically.

A request reads `holder.current` once and scores with that snapshot, so a swap never fails or
mixes an in-flight request: the old model stays alive until its last request finishes.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops import registry
from mlops.config import Config
from mlops.errors import MlopsError
from mlops.predict import Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """One loaded model version and where it came from."""

    scorer: Scorer
    uri: str
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    git_commit: str | None
    loaded_at: float = field(default_factory=time.time)

    @property
    def string_columns(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scorer.schema.columns if s.type == "string")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "git_commit": self.git_commit,
            "uri": self.uri,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
        }


def alias_of(uri: str) -> tuple[str, str] | None:
    """`models:/name@alias` -> (name, alias); None for a version or a path (nothing to follow)."""
    if not uri.startswith(registry.MODEL_URI_PREFIX):
        return None
    ref = uri.removeprefix(registry.MODEL_URI_PREFIX)
    if "@" not in ref:
        return None
    name, alias = ref.split("@", 1)
    return name, alias


#: What scoring needs besides the registry client: importing it on a second thread while the
#: first imports MLflow and opens the store overlaps their file and extension loading (about a
#: quarter off the time to ready on two cores). Each import is idempotent; a failure here only
#: means the loader imports the module itself.
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy.sparse",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "skops.io",
)


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # the loader imports what it needs on its own
            continue


def quiet_warnings() -> None:
    """Ignore Python warnings in this process.

    scikit-learn re-installs every active warning filter around each tree of a forest, so a
    process with MLflow's filters pays milliseconds per request for warnings nobody reads.
    """
    warnings.resetwarnings()
    warnings.simplefilter("ignore")


class ModelHolder:
    """Loads the model off the request path, then polls its alias and swaps in new versions."""

    def __init__(
        self,
        config: Config,
        uri: str,
        *,
        reload_interval: float,
        allow_unsafe: bool = False,
        silence_warnings: bool = True,
        on_load: Callable[[ServingModel], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.uri = uri
        self.reload_interval = reload_interval
        self.allow_unsafe = allow_unsafe
        self.silence_warnings = silence_warnings
        self.on_load = on_load
        self.on_error = on_error
        self.last_error: str | None = None
        self._current: ServingModel | None = None
        self._alias = alias_of(uri)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> ServingModel | None:
        """The model to score with (None until the first load succeeds)."""
        return self._current

    @property
    def follows_alias(self) -> bool:
        return self._alias is not None

    def start(self) -> None:
        """Load in the background (idempotent); the scoring stack is imported alongside."""
        if self._thread is None:
            threading.Thread(target=_preload, name="mlops-preload", daemon=True).start()
            self._thread = threading.Thread(target=self._run, name="mlops-model", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            if self._current is not None and not self.follows_alias:
                return
            # Until the first model is in, retry soon: readiness is what callers wait for.
            waiting = self._current is None
            self._stop.wait(min(self.reload_interval, 1.0) if waiting else self.reload_interval)

    def poll(self) -> bool:
        """Load the model if none is loaded or its alias moved; True when a new one is in."""
        try:
            if self._current is not None and not self._alias_moved(self._current):
                return False
            model = self._load()
        except MlopsError as exc:
            self._failed(str(exc))
            return False
        except Exception as exc:  # a bug or a broken store: keep serving, say what happened
            log.exception("model load failed")
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        previous, self._current = self._current, model  # the swap: one reference assignment
        self.last_error = None
        if self.on_load is not None:
            self.on_load(model)
        moved = f" (was v{previous.version})" if previous is not None else ""
        log.info("serving %s v%s from %s%s", model.name, model.version, model.uri, moved)
        return True

    def _alias_moved(self, current: ServingModel) -> bool:
        if self._alias is None:
            return False
        name, alias = self._alias
        registry_settings = self.config.settings.registry.model_copy(update={"model_name": name})
        settings = self.config.settings.model_copy(update={"registry": registry_settings})
        found = registry.get_alias(self.config.model_copy(update={"settings": settings}), alias)
        if found is None:
            self._failed(f"alias {alias!r} of {name!r} is gone; still serving v{current.version}")
            return False
        return found.version != current.version

    def _load(self) -> ServingModel:
        start = time.perf_counter()
        loaded = registry.load_model(self.config, self.uri, allow_unsafe=self.allow_unsafe)
        scorer = Scorer.from_loaded(loaded)
        if self.silence_warnings:
            quiet_warnings()
        if self._current is None:
            # The imports and the model are here to stay: keep them out of the collector's full
            # passes, which otherwise walk them all and show up as latency spikes.
            gc.freeze()
        model = ServingModel(
            scorer=scorer,
            uri=loaded.uri,
            name=loaded.name,
            version=loaded.version,
            alias=loaded.alias,
            run_id=loaded.run_id,
            git_commit=loaded.git_commit,
        )
        log.debug("loaded %s in %.2fs", loaded.uri, time.perf_counter() - start)
        return model

    def _failed(self, message: str) -> None:
        if message != self.last_error:
            level = logging.WARNING if self._current is not None else logging.ERROR
            log.log(level, "model %s: %s", self.uri, message)
        self.last_error = message
        if self.on_error is not None:
            self.on_error(message)
