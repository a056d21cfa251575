"""Progress of long steps, reported to whoever listens (the CLI's bars); the library never prints.

A step says what it does and how far it is::

    with progress.task("drift", total=len(columns), unit="columns") as step:
        for column in columns:
            ...
            step.advance()

Nobody listens by default: `task` then hands back one shared object whose methods do nothing
(no allocation, no import), so a hook costs a function call. The CLI installs a reporter
(`install`) when stderr is a terminal; tests and embedders use `reporting(reporter)` for a
block. `Recorder` is a reporter that keeps what it was told (tests, JSON summaries).

`total=None` is a step whose length is not known (a fit, a read): an indeterminate bar with
the elapsed time; `note` says what is planned (`up to 200 iterations`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "Recorder",
    "Reporter",
    "Task",
    "active",
    "install",
    "installed",
    "reporting",
    "task",
]


class Task(Protocol):
    """One step in progress: `advance` by done units, or `update` what is known."""

    def advance(self, amount: float = 1) -> None: ...

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        note: str | None = None,
    ) -> None: ...


class Reporter(Protocol):
    """Shows (or keeps) steps: `task` is entered when the step starts, left when it ends."""

    def task(
        self, name: str, *, total: float | None, unit: str, note: str
    ) -> AbstractContextManager[Task]: ...


class _Null:
    """The step nobody watches: every method does nothing; one instance serves every step."""

    __slots__ = ()

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        return None

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        note: str | None = None,
    ) -> None:
        return None


_NULL = _Null()
#: The process's reporter (`install`): seen from every thread.
_installed: Reporter | None = None
#: A reporter for the current context only (`reporting`): wins over the installed one.
_scoped: ContextVar[Reporter | None] = ContextVar("mlops_progress", default=None)


def install(reporter: Reporter | None) -> None:
    """Report every later step of this process to `reporter` (None: to nobody)."""
    global _installed
    _installed = reporter


def installed() -> Reporter | None:
    """The reporter `install` set (None when nobody listens process-wide)."""
    return _installed


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[Reporter | None]:
    """Report the steps of this block (this thread or task) to `reporter`."""
    token = _scoped.set(reporter)
    try:
        yield reporter
    finally:
        _scoped.reset(token)


def _current() -> Reporter | None:
    return _scoped.get() or _installed


def active() -> bool:
    """Whether anybody listens: skip work done only to report (counting rows, sizing files)."""
    return _current() is not None


def task(
    name: str, *, total: float | None = None, unit: str = "", note: str = ""
) -> AbstractContextManager[Task]:
    """A step named `name` of `total` `unit`s (None: unknown length), as a context manager."""
    reporter = _current()
    if reporter is None:
        return _NULL
    return reporter.task(name, total=total, unit=unit, note=note)


# --------------------------------------------------------------------------- a recorder


@dataclass
class Recorded:
    """What one step reported: its name, total and unit, how far it got, its notes."""

    name: str
    total: float | None
    unit: str
    notes: list[str] = field(default_factory=list)
    completed: float = 0
    updates: int = 0
    finished: bool = False

    def advance(self, amount: float = 1) -> None:
        self.completed += amount
        self.updates += 1

    def update(
        self,
        *,
        completed: float | None = None,
        total: float | None = None,
        note: str | None = None,
    ) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        if note:
            self.notes.append(note)
        self.updates += 1


class Recorder:
    """A reporter that keeps every step it is told about, in the order they started."""

    def __init__(self) -> None:
        self.tasks: list[Recorded] = []
        self._lock = threading.Lock()

    @contextmanager
    def task(self, name: str, *, total: float | None, unit: str, note: str) -> Iterator[Recorded]:
        step = Recorded(name=name, total=total, unit=unit, notes=[note] if note else [])
        with self._lock:
            self.tasks.append(step)
        try:
            yield step
        finally:
            step.finished = True

    def named(self, name: str) -> list[Recorded]:
        """The steps called `name`."""
        return [step for step in self.tasks if step.name == name]
