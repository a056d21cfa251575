"""Named fault points for crash testing: `MLOPS_FAULT_POINT=<name>` kills the process there.

Cheap when unset (one environment lookup). The reliability suite uses it to SIGKILL a command
at a precise moment and check that rerunning it succeeds and nothing is left inconsistent.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "MLOPS_FAULT_POINT"


def checkpoint(name: str) -> None:
    """Die with SIGKILL (no cleanup, like a power cut) if this is the configured fault point."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
