"""Bounded native threads for fits and predictions (OpenMP, BLAS), applied with threadpoolctl.

On a busy 2-core host, OpenMP's default (one busy-waiting thread per core) made a 275-row
gradient-boosting fit 24x slower than with one thread: `train.n_jobs` in params.yaml bounds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def limited(n_jobs: int | None) -> Iterator[None]:
    """Run the block with at most `n_jobs` native threads per pool (None: the libraries' default,
    all cores)."""
    if n_jobs is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_jobs):
        yield


def limit_this_thread(n_jobs: int | None) -> None:
    """Bound the native thread pools for calls made from the calling thread from now on.

    OpenMP's limit is per calling thread (BLAS's is per process), so a thread that scores must
    set it itself; calling it again after a new library is loaded extends the limit to it.
    """
    if n_jobs is None:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n_jobs)


def prefer_passive_waiting(n_jobs: int | None = None) -> None:
    """Idle OpenMP threads sleep instead of spinning, and pools start at `n_jobs` threads.

    Sets `OMP_WAIT_POLICY=PASSIVE` (and `OMP_NUM_THREADS`, with `n_jobs`) in this process's
    environment unless the user set them. OpenMP reads them once, when it initialises: call
    this before scikit-learn is imported; child processes inherit them.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if n_jobs is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(n_jobs))
