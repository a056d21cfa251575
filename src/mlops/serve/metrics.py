"""Prometheus metrics for the server, with bounded label sets.

One registry per app. With several worker processes (`PROMETHEUS_MULTIPROC_DIR` set before
`prometheus_client` is imported), every worker writes its samples to that directory and a scrape
of any worker aggregates them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Route labels: every other path is counted as "other".
ROUTES = ("/invocations", "/ping", "/health", "/version", "/metrics")
OTHER = "other"
#: At most this many class labels get their own series; the rest count as "other".
MAX_CLASS_LABELS = 50
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
VALUE_BUCKETS = (
    -1e6, -1e4, -1e3, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e6,
)  # fmt: skip


def observe_many(histogram: Any, values: np.ndarray) -> None:
    """Observe many values at once (bucket counts via numpy, not one call per value)."""
    import numpy as np

    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:  # a prometheus_client we don't know
        for value in values.tolist():
            histogram.observe(value)
        return
    index = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="left")
    for bucket, count in enumerate(np.bincount(index, minlength=len(bounds)).tolist()):
        if count:
            buckets[bucket].inc(count)
    total.inc(float(values.sum()))


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The server's metrics; every method is cheap enough for the request path."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "mlops_requests",
            "HTTP requests by route and status code.",
            ["route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "mlops_request_duration_seconds",
            "Time from the request's arrival to the last byte of the response.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "mlops_requests_in_flight",
            "Requests being handled now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.rows = Counter(
            "mlops_rows_scored", "Input rows scored by the model.", registry=registry
        )
        self.model_calls = Counter(
            "mlops_model_calls",
            "Model predict calls: fewer than requests when concurrent requests share one call.",
            registry=registry,
        )
        self.missing = Counter(
            "mlops_input_rows_with_missing",
            "Scored rows with at least one missing feature value.",
            registry=registry,
        )
        self.classes = Counter(
            "mlops_predictions",
            "Predicted class labels (classifiers).",
            ["label"],
            registry=registry,
        )
        self.values = Histogram(
            "mlops_prediction_value",
            "Predicted values (regressors).",
            buckets=VALUE_BUCKETS,
            registry=registry,
        )
        self.model_info = Gauge(
            "mlops_model_info",
            "The model being served (1) and models served before (0).",
            ["name", "version", "alias", "run_id"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "mlops_model_ready",
            "1 when a model is loaded and requests are scored.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.reloads = Counter(
            "mlops_model_loads",
            "Model loads by outcome (the first load and every alias move).",
            ["result"],
            registry=registry,
        )
        self.capture_rows = Counter(
            "mlops_capture_rows",
            "Request rows written to capture files.",
            registry=registry,
        )
        self.capture_dropped = Counter(
            "mlops_capture_dropped_rows",
            "Sampled rows not captured: the queue was full or the disk failed.",
            registry=registry,
        )
        self.capture_queue = Gauge(
            "mlops_capture_queue_rows",
            "Captured rows waiting for the writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        #: `mlops monitor`'s Prometheus textfile, appended to every scrape when it exists.
        self.textfile: Path | None = None
        self._known_labels: set[str] = set()
        self._current_info: tuple[str, str, str, str] | None = None
        self._request_children: dict[tuple[str, int], Any] = {}
        self._latency_children = {route: self.latency.labels(route) for route in (*ROUTES, OTHER)}
        self.ready.set(0)
        self._set_worker_state(ready=False)
        self._register_process_collectors()
        for result in ("success", "failure"):  # at 0 from the start: increase() sees the first
            self.reloads.labels(result)

    # ---------------------------------------------------------------- request path

    def observe(self, route: str, status: int, seconds: float) -> None:
        child = self._request_children.get((route, status))
        if child is None:
            child = self._request_children[(route, status)] = self.requests.labels(
                route, str(status)
            )
        child.inc()
        self._latency_children[route].observe(seconds)

    def scored(self, predictions: np.ndarray, rows_with_missing: int, classifier: bool) -> None:
        import numpy as np

        self.rows.inc(len(predictions))
        if rows_with_missing:
            self.missing.inc(rows_with_missing)
        if classifier:
            from collections import Counter

            # Counting a list beats np.unique, which sorts (slow on object arrays of labels).
            for label, count in Counter(predictions.tolist()).items():
                self.classes.labels(self._label(str(label))).inc(count)
        else:
            values = np.asarray(predictions, dtype=np.float64).ravel()
            observe_many(self.values, values[np.isfinite(values)])

    def _label(self, label: str) -> str:
        if label in self._known_labels:
            return label
        if len(self._known_labels) >= MAX_CLASS_LABELS:
            return OTHER
        self._known_labels.add(label)
        return label

    # ---------------------------------------------------------------- model events

    def model_loaded(self, name: str, version: str, alias: str, run_id: str) -> None:
        info = (name, version, alias, run_id)
        if self._current_info is not None and self._current_info != info:
            self.model_info.labels(*self._current_info).set(0)
        self.model_info.labels(*info).set(1)
        self._current_info = info
        self.ready.set(1)
        self._set_worker_state(ready=True)
        self.reloads.labels("success").inc()

    def model_failed(self) -> None:
        self.reloads.labels("failure").inc()

    # ---------------------------------------------------------------- worker readiness

    def _state_file(self, pid: int) -> Path | None:
        directory = multiprocess_dir()
        return Path(directory) / f"worker-{pid}.state" if directory else None

    def _set_worker_state(self, *, ready: bool) -> None:
        path = self._state_file(os.getpid())
        if path is not None:
            path.write_text("ready" if ready else "loading")

    def all_workers_ready(self) -> bool:
        """With several workers: whether every live one has a model (a single worker: True)."""
        directory = multiprocess_dir()
        if directory is None:
            return True
        for path in Path(directory).glob("worker-*.state"):
            pid = int(path.stem.removeprefix("worker-"))
            try:
                os.kill(pid, 0)
                state = path.read_text()
            except ProcessLookupError:
                continue  # a worker that died: the supervisor replaces it
            except (PermissionError, FileNotFoundError):
                continue
            if state != "ready":
                return False
        return True

    # ---------------------------------------------------------------- exposition

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry) + self._textfile(), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        merged.register(WorkerProcesses(self.worker_pids))
        merged.register(self._platform)
        return generate_latest(merged) + self._textfile(), CONTENT_TYPE_LATEST

    def _textfile(self) -> bytes:
        """The monitor's textfile, read fresh (nothing when missing, unreadable or malformed)."""
        if self.textfile is None:
            return b""
        try:
            data = self.textfile.read_bytes()
            from prometheus_client.parser import text_string_to_metric_families

            for _family in text_string_to_metric_families(data.decode("utf-8")):
                pass
        except (OSError, ValueError, UnicodeDecodeError, TypeError, IndexError):
            return b""
        return data if data.endswith(b"\n") or not data else data + b"\n"

    # ---------------------------------------------------------------- process_* metrics

    def _register_process_collectors(self) -> None:
        """Standard `process_*` (CPU, RSS, open fds) and `python_info` series.

        One process: this process's, on the private registry. Several workers: a scrape reports
        every live worker's `process_*` labelled `pid` (see `WorkerProcesses`), added at render
        time beside the multiprocess samples (custom collectors do not go through the files).
        """
        from prometheus_client import PlatformCollector, ProcessCollector

        self._platform = PlatformCollector(registry=None)
        if not self.multiprocess:
            ProcessCollector(registry=self.registry)
            self.registry.register(self._platform)

    def worker_pids(self) -> list[int]:
        """The live workers' process ids (several workers), from their state files."""
        directory = multiprocess_dir()
        if directory is None:
            return [os.getpid()]
        pids = []
        for path in Path(directory).glob("worker-*.state"):
            pid = int(path.stem.removeprefix("worker-"))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
            pids.append(pid)
        return sorted(pids)

    def close(self) -> None:
        """Drop this process's live gauges from the shared directory (worker shutdown)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            state = self._state_file(os.getpid())
            if state is not None:
                state.unlink(missing_ok=True)

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class WorkerProcesses:
    """`process_*` of every live worker, labelled `pid`, for one scrape of a multi-worker server.

    In multiprocess mode each worker is its own process: reporting only the worker that answered
    the scrape would make `process_cpu_seconds_total` jump between processes. Summing by `job`
    gives the server's total (`sum(process_resident_memory_bytes)`).
    """

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids

    def collect(self) -> list[Any]:
        import functools

        from prometheus_client import ProcessCollector
        from prometheus_client.metrics_core import Metric

        families: dict[str, Metric] = {}
        for pid in self._pids():
            collector = ProcessCollector(pid=functools.partial(int, pid), registry=None)
            for family in collector.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(
                        family.name, family.documentation, family.type
                    )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return list(families.values())
