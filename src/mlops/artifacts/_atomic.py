"""Atomic writes: a temp file beside the target, renamed over it only when complete."""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlops import interrupts


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; rename it over `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    token = interrupts.on_hard_exit(functools.partial(tmp.unlink, missing_ok=True))
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        tmp.chmod(_default_mode())  # mkstemp's 0600 would make every output private
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
        interrupts.discard(token)


def _default_mode() -> int:
    """What `open()` would give a new file: 0666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _sweep_stale_temps(target: Path) -> None:
    """Remove temp files a killed writer of `target` left behind (its pid is gone)."""
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = leftover.name.removeprefix(f".{target.name}.").split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or anyone's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_bytes(target: Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(target: Path, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))
