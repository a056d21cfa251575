"""Ctrl-C and SIGTERM honoured within seconds, whatever the process is doing.

SIGINT and SIGTERM unwind the main thread as `KeyboardInterrupt` (tracked runs end KILLED, temp
files are removed, child processes are stopped). Python runs that handler only between
bytecodes of the main thread, so a long native call (a tree fit, a Parquet read) or a slow
cleanup would delay the exit for as long as it lasts. The C-level handler still writes the
signal's number to a wakeup socket at once: a watcher thread reads it and, on a second signal
or when the unwind has not finished `GRACE_SECONDS` after the first, runs the registered
last-resort cleanups (bounded) and ends the process with `os._exit(128 + signum)`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

#: Seconds the main thread has to unwind after the first SIGINT/SIGTERM before a hard exit.
GRACE_SECONDS = 5.0
#: Overrides GRACE_SECONDS for a process (`mlops pipeline run` shortens it for the stages dvc
#: runs, so that they finish their own cleanup before it kills what is left).
GRACE_ENV = "MLOPS_INTERRUPT_GRACE"
#: Seconds the last-resort cleanups may take together before the hard exit goes ahead anyway.
CLEANUP_SECONDS = 3.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_cleanups: dict[int, Callable[[], None]] = {}
_counter = itertools.count()
_lock = threading.Lock()
_received: list[int] = []  # the first SIGINT/SIGTERM, once one arrived
_installed: list[bool] = []
_disarmed = threading.Event()
_grace = [GRACE_SECONDS]  # the grace period in force (set by `install`)
_deferring = [0]  # depth of `deferred()` blocks on the main thread
_pending: list[int] = []  # a signal that arrived inside one, raised when the last one ends


def install(grace: float | None = None) -> None:
    """Turn SIGINT/SIGTERM into `KeyboardInterrupt` and start the watchdog (main thread only;
    once per process). `grace` defaults to $MLOPS_INTERRUPT_GRACE, else GRACE_SECONDS."""
    import socket

    if grace is None:
        try:
            grace = float(os.environ.get(GRACE_ENV) or GRACE_SECONDS)
        except ValueError:
            grace = GRACE_SECONDS
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _grace[0] = grace
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)
    parent = None
    if os.environ.get("DVC_STAGE"):
        # the handler first: following dvc may raise SIGHUP at once (dvc already gone)
        previous = signal.signal(signal.SIGHUP, _interrupt)
        parent = _follow_parent()
        if parent is None:
            signal.signal(signal.SIGHUP, previous)
    watcher = threading.Thread(
        target=_watch, args=(reader, writer, grace, parent), name="mlops-interrupts", daemon=True
    )
    watcher.start()
    _installed.append(True)


#: Shells dvc runs a stage's command with (`$SHELL -c CMD`); dash does not exec the command.
_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "fish", "ksh", "mksh"})
_NO_PIDFD = -1


def _follow_parent() -> int | None:
    """A stage `dvc repro` runs gets SIGHUP when dvc dies (Linux): dvc does not pass SIGTERM
    on, and its stage went on for minutes (a fit, its run RUNNING) after dvc had exited.

    dvc runs the stage as `$SHELL -c CMD`; bash execs CMD, dash (`/bin/sh` on Debian, and what
    dvc uses when $SHELL is unset, as on CI runners) waits for it, so dvc is the parent or the
    grandparent. The watcher waits on a pidfd of that process (its own thread, any ancestor);
    where there is none (kernel < 5.3), the kernel's parent-death signal covers the case of a
    direct parent. Returns the pidfd (or `_NO_PIDFD`), None when nothing follows dvc.

    SIGHUP, not SIGTERM: a repeat must not count as the second signal that ends the process at
    once."""
    import sys

    if not sys.platform.startswith("linux"):
        return None
    parent = os.getppid()
    target = _launcher(parent)
    try:
        pidfd = os.pidfd_open(target)
    except (OSError, AttributeError):
        pidfd = None
    if pidfd is not None:
        if os.getppid() != parent:  # dvc died before the pidfd was open
            os.close(pidfd)
            os.kill(os.getpid(), signal.SIGHUP)
            return _NO_PIDFD
        return pidfd
    if target != parent:
        return None
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        done = int(libc.prctl(pr_set_pdeathsig, int(signal.SIGHUP), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return None
    return _NO_PIDFD if done else None


def _launcher(parent: int) -> int:
    """`parent`, or its parent when `parent` is a shell running `-c CMD` (what dvc started)."""
    from pathlib import Path

    proc = Path("/proc", str(parent))
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        stat = (proc / "stat").read_bytes()
    except OSError:
        return parent
    shell = Path(argv[0].decode(errors="replace")).name.lstrip("-")
    if shell in _SHELLS and b"-c" in argv[1:]:
        return int(stat.rsplit(b")", 1)[1].split()[1])
    return parent


def disarm() -> None:
    """No hard exit for this process: a command with its own graceful shutdown (the server
    drains in-flight requests for longer than the grace period) handles signals itself."""
    _disarmed.set()


def grace() -> float:
    """Seconds between the first signal and the hard exit in this process."""
    return _grace[0]


def received() -> int | None:
    """The first SIGINT/SIGTERM this process received, if any."""
    return _received[0] if _received else None


def exit_code(code: int) -> int:
    """The process's exit code: 128 + the signal's number (130 SIGINT, 143 SIGTERM) when an
    interrupt ended the command, else `code`."""
    signum = received()
    return 128 + signum if signum is not None and code != 0 else code


def on_hard_exit(cleanup: Callable[[], None]) -> int:
    """Register a last-resort cleanup for a hard exit (end a run KILLED, remove a temp file,
    kill a child process group); returns a token for `discard`."""
    token = next(_counter)
    with _lock:
        _cleanups[token] = cleanup
    return token


def discard(token: int) -> None:
    with _lock:
        _cleanups.pop(token, None)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block the first signal does not break into: it raises `KeyboardInterrupt` when the
    block ends instead. For a step whose effect the caller can only undo once it returns
    (`mlflow.start_run` has created the run before it hands back its id: broken off halfway,
    the run stayed RUNNING). The watchdog's hard exit still comes `grace()` seconds later."""
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1
    if not _deferring[0] and _pending:
        signum = _pending.pop()
        raise KeyboardInterrupt(f"signal {signum}")


def _interrupt(signum: int, frame: object) -> None:
    """The first signal unwinds the main thread; later ones are the watcher's (a hard exit),
    and must not break the cleanup the first one started."""
    if _received and not _disarmed.is_set():
        return
    if not _received:
        _received.append(signum)
    if _deferring[0]:
        _pending[:] = [signum]
        return
    raise KeyboardInterrupt(f"signal {signum}")


def _watch(reader: object, writer: object, grace: float, parent: int | None) -> None:
    import select
    import socket

    assert isinstance(reader, socket.socket)
    first: int | None = None
    deadline: float | None = None
    waited: list[socket.socket | int] = [reader]
    if parent is not None and parent != _NO_PIDFD:
        waited.append(parent)
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select(waited, [], [], timeout)
        if not ready:
            if first is not None:
                _hard_exit(first)
            continue
        if parent in ready:  # dvc is gone: unwind as on its SIGHUP
            waited.remove(parent)
            os.kill(os.getpid(), signal.SIGHUP)
            if reader not in ready:
                continue
        signums = [b for b in reader.recv(64) if b in (*SIGNALS, signal.SIGHUP)]
        if _disarmed.is_set():
            continue
        for signum in signums:
            if first is None:
                first = signum
                deadline = time.monotonic() + grace
            elif signum != signal.SIGHUP:  # the parent's death, told again: not a 2nd signal
                _hard_exit(first)


def _hard_exit(signum: int) -> None:
    """Run the cleanups (at most CLEANUP_SECONDS in all), say so on stderr, and exit now."""
    with _lock:
        cleanups = list(_cleanups.values())

    def run_all() -> None:
        for cleanup in cleanups:
            with contextlib.suppress(BaseException):
                cleanup()

    worker = threading.Thread(target=run_all, name="mlops-last-cleanup", daemon=True)
    worker.start()
    worker.join(CLEANUP_SECONDS)
    name = signal.Signals(signum).name
    message = f"error: interrupted by {name}; stopped without waiting for the current step\n"
    with contextlib.suppress(OSError):
        os.write(2, message.encode())
    os._exit(128 + signum)
