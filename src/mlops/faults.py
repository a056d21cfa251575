"""Named fault points for crash testing: `MLOPS_FAULT_POINT=<name>` kills the process there.

Cheap when unset (one environment lookup). The reliability suite uses it to SIGKILL a command
at a precise moment and check that rerunning it succeeds and nothing is left inconsistent.
With `MLOPS_FAULT_PAUSE=<dir>` as well, the process pauses there instead: it creates
`<dir>/reached` and waits for `<dir>/resume`, so a test can take a service away mid-command.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FAULT_ENV = "MLOPS_FAULT_POINT"
PAUSE_ENV = "MLOPS_FAULT_PAUSE"
#: A paused process gives up waiting (and carries on) after this many seconds.
PAUSE_LIMIT = 300.0


def checkpoint(name: str) -> None:
    """Die with SIGKILL (no cleanup, like a power cut) if this is the configured fault point,
    or pause there when `MLOPS_FAULT_PAUSE` names a folder."""
    if os.environ.get(FAULT_ENV) != name:
        return
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        os.kill(os.getpid(), signal.SIGKILL)
        return
    pause = Path(folder)
    pause.mkdir(parents=True, exist_ok=True)
    (pause / "reached").touch()
    deadline = time.monotonic() + PAUSE_LIMIT
    while not (pause / "resume").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
