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
