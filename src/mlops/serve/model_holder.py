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
from pathlib import Path
from typing import Any

from mlops import registry
from mlops.errors import MlopsError, ModelLoadError, RegistryError
from mlops.predict import Scorer
from mlops.tracking import Store

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
    ref = registry.parse_model_uri(uri)
    if ref is None or ref.alias is None:
        return None
    return ref.name, ref.alias


def quiet_warnings() -> None:
    """Ignore Python warnings in this process.

    scikit-learn re-installs every active warning filter around each tree of a forest, so a
    process with MLflow's filters pays milliseconds per request for warnings nobody reads.
    """
    warnings.resetwarnings()
    warnings.simplefilter("ignore")


#: The longest wait before a version that failed to load is tried again (seconds).
MAX_BACKOFF = 600.0


class ModelHolder:
    """Loads the model off the request path, then polls its alias and swaps in new versions."""

    def __init__(
        self,
        store: Store,
        uri: str,
        *,
        reload_interval: float,
        allow_unsafe: bool = False,
        silence_warnings: bool = True,
        on_load: Callable[[ServingModel], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
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
        #: A version that failed to load is not retried before this (monotonic) time; the wait
        #: doubles per failure up to MAX_BACKOFF (a model that inflates to gigabytes was loaded
        #: again every few seconds, forever).
        self._failed_key: object = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self.failures = 0
        #: Model files (by digest) whose load was refused: the same bytes are refused the same
        #: way, so they are not loaded again until they change (a transient failure, e.g. a
        #: missing file, has no digest and backs off as above).
        self._refused: dict[str, str] = {}
        #: (stat of the directory's files) -> digest, so an unchanged file is not hashed again.
        self._digests: dict[tuple[object, ...], str | None] = {}
        #: How many times a model was actually loaded (successfully or not).
        self.loads = 0

    @property
    def current(self) -> ServingModel | None:
        """The model to score with (None until the first load succeeds)."""
        return self._current

    @property
    def follows_alias(self) -> bool:
        return self._alias is not None

    def load_first(self) -> bool:
        """Try the first load on the calling thread, before serving: True when a model is in.

        With nothing else running yet and the cyclic collector paused, importing the scoring
        stack and loading the model takes about a fifth less time than on a background thread.
        On failure the background loop started by `start` keeps retrying.
        """
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self.poll()
        finally:
            if enabled:
                gc.enable()

    def start(self) -> None:
        """Load (or follow the alias) in the background from now on (idempotent)."""
        if self._thread is None:
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
        key: object = None  # what is being loaded (set once known; None: a lookup failed)
        try:
            info: registry.ModelVersionInfo | None = None
            if self._alias is not None:
                info = self._follow(self._alias)
                if info is None:
                    return False
            elif self._current is not None:
                return False
            key = (info.name, info.version) if info is not None else self.uri
            if key == self._failed_key and time.monotonic() < self._retry_at:
                return False  # before the digest: finding the files may download them
            digest = self._digest(info)
            if digest is not None and digest in self._refused:
                # these bytes were refused: not loaded (nor counted) again until they change
                self.last_error = self._refused[digest]
                return False
            self.loads += 1
            try:
                model = self._load(info)
            except ModelLoadError as exc:
                if digest is None:
                    raise
                self._refused[digest] = f"{exc} (not loaded again until its files change)"
                self._failed(self._refused[digest])
                return False
        except MlopsError as exc:
            self._failed(str(exc), key)
            return False
        except Exception as exc:  # a bug or a broken store: keep serving, say what happened
            log.exception("model load failed")
            self._failed(f"{type(exc).__name__}: {exc}", key)
            return False
        self._failed_key, self._backoff, self.failures = None, 0.0, 0
        previous, self._current = self._current, model  # the swap: one reference assignment
        self.last_error = None
        if self.on_load is not None:
            self.on_load(model)
        moved = f" (was v{previous.version})" if previous is not None else ""
        log.info("serving %s v%s from %s%s", model.name, model.version, model.uri, moved)
        return True

    def _follow(self, alias: tuple[str, str]) -> registry.ModelVersionInfo | None:
        """The version to load now: None while the alias stays on the one being served."""
        name, label = alias
        current = self._current
        found = registry.find_alias(self.store, name, label)
        if found is None:
            if current is None:
                raise RegistryError(f"registry: model {name!r} has no alias {label!r}")
            self._failed(f"alias {label!r} of {name!r} is gone; still serving v{current.version}")
            return None
        if current is not None and found.version == current.version:
            return None
        return found

    def _digest(self, info: registry.ModelVersionInfo | None) -> str | None:
        """The digest of the model files about to be loaded (None when not on disk here)."""
        if info is not None:
            directory = registry.model_directory(self.store, info)
        else:
            directory = Path(self.uri)
            if not directory.is_dir():
                return None  # runs:/… : downloaded at each load, nothing to compare
        try:
            stats = tuple(
                (p.name, s.st_ino, s.st_size, s.st_mtime_ns)
                for p in sorted(directory.iterdir())
                if p.is_file() and (s := p.stat())
            )
        except OSError:
            return None
        key = (str(directory), *stats)
        if key not in self._digests:
            if len(self._digests) > 64:
                self._digests.clear()
            self._digests[key] = registry.directory_digest(directory)
        return self._digests[key]

    def _load(self, info: registry.ModelVersionInfo | None) -> ServingModel:
        start = time.perf_counter()
        if info is not None:
            alias = self._alias[1] if self._alias else None
            loaded = registry.load_version(
                self.store, info, alias=alias, uri=self.uri, allow_unsafe=self.allow_unsafe
            )
        else:
            loaded = registry.load_model(self.store, self.uri, allow_unsafe=self.allow_unsafe)
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
        log.debug(
            "loaded %s in %.2fs (load %d)", loaded.uri, time.perf_counter() - start, self.loads
        )
        return model

    def _failed(self, message: str, key: object = None) -> None:
        if key is not None:  # a load failed (not a lookup): back off before the same one again
            self._backoff = (
                min(self._backoff * 2, MAX_BACKOFF)
                if key == self._failed_key
                else max(self.reload_interval, 1.0)
            )
            self._failed_key, self._retry_at = key, time.monotonic() + self._backoff
            self.failures += 1
            message = f"{message} (retrying in {self._backoff:.0f} s)"
        if message != self.last_error:
            level = logging.WARNING if self._current is not None else logging.ERROR
            log.log(level, "model %s: %s", self.uri, message)
        self.last_error = message
        if self.on_error is not None:
            self.on_error(message)
