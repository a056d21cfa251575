"""Dask clusters for trials and batch scoring: `local:N` starts a `LocalCluster` of N worker
processes (one thread each); `tcp://HOST:PORT` connects to a running scheduler.

An existing engine, not a home-made one: `dask.distributed` schedules, retries and reports
dead workers. Needs the `dask` extra (`pip install 'mlops[dask]'`); imported only here and
only when a command is given a cluster.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.errors import ConfigError, MlopsError

if TYPE_CHECKING:
    from distributed import Client

#: Seconds to wait for a scheduler to answer (a wrong address fails in this time, not a hang).
CONNECT_TIMEOUT = 5.0
#: Seconds a LocalCluster may take to start its workers.
START_TIMEOUT = 60.0

_LOCAL = re.compile(r"^local(?::(\d+))?$")
_REMOTE = re.compile(r"^(tcp|tls|ws|wss)://[^\s/:]+:\d{1,5}/?$")


class ClusterError(MlopsError):
    """A cluster that does not answer, or could not start."""


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed `--cluster` value: `local:N` (workers) or a scheduler address."""

    workers: int | None = None
    address: str | None = None

    @property
    def local(self) -> bool:
        return self.address is None

    def __str__(self) -> str:
        return f"local:{self.workers}" if self.local else str(self.address)


def parse(spec: str, *, key: str = "--cluster") -> ClusterSpec:
    """`local`, `local:N` (N >= 1) or `tcp://HOST:PORT`; anything else is a ConfigError."""
    text = spec.strip()
    local = _LOCAL.match(text)
    if local:
        workers = int(local.group(1)) if local.group(1) else 2
        if workers < 1:
            raise ConfigError(f"{key}: local:{workers} needs at least one worker")
        return ClusterSpec(workers=workers)
    if _REMOTE.match(text):
        return ClusterSpec(address=text.rstrip("/"))
    raise ConfigError(
        f"{key}: {spec!r} is not a cluster (expected local:N or tcp://HOST:PORT of a Dask scheduler)"
    )


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ConfigError("a Dask cluster needs the dask extra: pip install 'mlops[dask]'") from exc


def _worker_env() -> dict[str, str]:
    # One native thread per worker process: N processes already use N cores, and OpenMP's
    # busy-waiting threads make fits many times slower on a busy host.
    return {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def connect(spec: str | ClusterSpec, *, timeout: float = CONNECT_TIMEOUT) -> Iterator[Client]:
    """A `distributed.Client` for the cluster, closed (and a local cluster stopped) on exit."""
    parsed = parse(spec) if isinstance(spec, str) else spec
    _require_dask()
    from distributed import Client, LocalCluster

    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if parsed.local:
        try:
            cluster: Any = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=parsed.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                env=_worker_env(),
                timeout=START_TIMEOUT,
            )
        except Exception as exc:  # OSError, TimeoutError, RuntimeError from the nanny
            raise ClusterError(f"cluster {parsed}: could not start ({_first_line(exc)})") from exc
        with cluster, Client(cluster, timeout=START_TIMEOUT) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    try:
        client = Client(parsed.address, timeout=timeout)  # type: ignore[no-untyped-call]
    except Exception as exc:  # OSError/TimeoutError: nobody answers there
        raise ClusterError(
            f"cluster {parsed.address}: no Dask scheduler answered within {timeout:g} s "
            f"({_first_line(exc)})"
        ) from exc
    with client:
        yield client


def workers(client: Client) -> int:
    """How many workers the cluster has right now."""
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
