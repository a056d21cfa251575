"""Progress bars on stderr for the library's long steps (`mlops.progress`), when a person watches.

On when stderr is a terminal, logs are text and `-q` is not given; `MLOPS_PROGRESS=0` turns
them off, `MLOPS_PROGRESS=1` on even when stderr is not a terminal (never with `-q` or JSON
logs). Bars are transient: a finished step leaves no line behind. While a bar is shown, log
lines and other stderr writes go through the same rich console, above the bar, not across it.
rich is imported only when bars are on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlops import progress

if TYPE_CHECKING:
    from rich.progress import Progress

#: `0`: never show bars; `1`: show them even when stderr is not a terminal.
ENV = "MLOPS_PROGRESS"


def wanted(*, quiet: bool, log_format: str, stream: Any = None) -> bool:
    """Whether bars belong on `stream` (stderr): a person reads text logs there."""
    if quiet or log_format != "text":
        return False
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("0", "false", "no", "off"):
        return False
    if setting in ("1", "true", "yes", "on"):
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def setup(*, quiet: bool, log_format: str) -> None:
    """Install the bar reporter for this process, or none (`wanted` decides)."""
    progress.install(Bars() if wanted(quiet=quiet, log_format=log_format) else None)


class _Step:
    """One bar of the shared rich Progress."""

    __slots__ = ("_bars", "_id")

    def __init__(self, bars: Progress, task_id: Any) -> None:
        self._bars, self._id = bars, task_id

    def advance(self, amount: float = 1) -> None:
        self._bars.advance(self._id, amount)

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        note: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {} if note is None else {"note": note}
        self._bars.update(self._id, completed=completed, total=total, **fields)


class Bars:
    """The reporter: one rich Progress on stderr, live while at least one step runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._bars: Progress | None = None
        self._streams: list[tuple[logging.StreamHandler[Any], Any]] = []

    @contextmanager
    def task(self, name: str, *, total: float | None, unit: str, note: str) -> Iterator[_Step]:
        bars = self._enter()
        task_id = bars.add_task(name, total=total, unit=unit, note=note)
        bars.refresh()  # shown at once, however short the step
        try:
            yield _Step(bars, task_id)
        finally:
            bars.remove_task(task_id)
            self._leave()

    def _enter(self) -> Progress:
        with self._lock:
            if self._bars is None:
                self._bars = _make_progress()
            if self._running == 0:
                self._bars.start()
                self._route_logs()
            self._running += 1
            return self._bars

    def _leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._bars is not None:
                self._restore_logs()
                self._bars.stop()

    def _route_logs(self) -> None:
        """Log handlers writing to the real stderr write through rich's proxy while live."""
        proxy = sys.stderr
        real = getattr(proxy, "rich_proxied_file", None)
        if real is None:  # rich did not redirect (not a terminal): nothing to route
            return
        for handler in logging.getLogger().handlers:
            if type(handler) is logging.StreamHandler and handler.stream in (
                real,
                sys.__stderr__,
            ):
                self._streams.append((handler, handler.setStream(proxy)))

    def _restore_logs(self) -> None:
        for handler, stream in self._streams:
            handler.flush()
            handler.setStream(stream)
        self._streams.clear()


def _make_progress() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Count(ProgressColumn):
        """`1,200/5,000 rows` (or `1,200 rows` when the total is unknown)."""

        def render(self, task: Task) -> Text:
            unit = task.fields.get("unit", "")
            if task.total is None:
                done = f"{task.completed:,.0f} {unit}" if task.completed else ""
            else:
                done = f"{task.completed:,.0f}/{task.total:,.0f} {unit}"
            return Text(done.strip(), style="progress.download")

    force = os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")
    console = Console(
        stderr=True, force_terminal=True if force else None, highlight=False, soft_wrap=True
    )
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        Count(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
        console=console,
        transient=True,
    )
