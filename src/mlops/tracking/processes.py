"""Which process owns a run: tags at start, and reaping runs whose process died (kill -9)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from mlops.artifacts import pid_alive
from mlops.tracking import tags

log = logging.getLogger(__name__)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (tells a live pid from a reused one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    if not pid_alive(pid):
        return False
    current = _process_start(pid)
    return started is None or current is None or current == started


def process_tags() -> dict[str, str]:
    return {
        tags.PID: str(os.getpid()),
        tags.PID_START: _process_start(os.getpid()) or "",
        tags.HOST: socket.gethostname(),
    }


def reap_orphaned_runs(client: Any) -> list[str]:
    """Mark KILLED every RUNNING run whose process on this host is gone (e.g. after kill -9)."""
    host = socket.gethostname()
    reaped: list[str] = []
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return reaped
    running = client.search_runs(
        experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    for found in running:
        values = found.data.tags
        pid = values.get(tags.PID, "")
        if values.get(tags.HOST) != host or not pid.isdigit():
            continue
        if not _alive(int(pid), values.get(tags.PID_START) or None):
            client.set_terminated(found.info.run_id, status="KILLED")
            client.set_tag(found.info.run_id, tags.REAPED, "process gone")
            reaped.append(found.info.run_id)
            log.warning(
                "run %s was left RUNNING by a dead process; marked KILLED", found.info.run_id
            )
    return reaped
