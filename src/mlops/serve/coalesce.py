"""Opportunistic batching: small requests that wait together are scored in one model call.

A scikit-learn pipeline spends most of a one-row predict on per-call overhead (validation,
column selection, a hundred trees each called once), so four rows cost about what one does.
Requests that arrive while the model is busy queue here; the next model call takes them all
(up to `max_rows`), and each request gets back exactly its own rows' predictions.

A lone client never waits: its request is scored at once. Only while requests keep arriving
together does a call wait `WINDOW_SECONDS` for the clients the previous call just answered.
Only classifiers are coalesced: their labels do not depend on which rows share a call, whereas a
regressor's floats could differ in the last bit with the batch's shape (BLAS blocking).
If a combined call fails, each request is scored alone, so one bad request fails by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Rows one combined model call may take; larger requests are scored on their own.
MAX_ROWS = 2048
#: While requests keep arriving together, wait this long before a model call so that clients
#: answered by the previous call can send their next request in time to share this one.
WINDOW_SECONDS = 0.002

Predict = Callable[[Any, "pd.DataFrame"], "np.ndarray"]


@dataclass
class _Waiting:
    model: Any
    frame: pd.DataFrame
    future: asyncio.Future[np.ndarray]


class Coalescer:
    """Scores the requests waiting at once with one `predict(model, frame)` call per model."""

    def __init__(self, predict: Predict, max_rows: int = MAX_ROWS) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self._waiting: list[_Waiting] = []
        self._drain: asyncio.Handle | asyncio.TimerHandle | None = None
        #: Whether the last model call answered several requests (clients are concurrent).
        self._together = False

    async def predict(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        """Predictions for `frame`'s rows, possibly computed together with other requests'."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._waiting.append(_Waiting(model, frame, future))
        if self._drain is None:
            # Behind the requests already parsed in this turn of the loop (everything that
            # arrived while the model was busy joins this call); a lone client never waits.
            if self._together:
                self._drain = loop.call_later(WINDOW_SECONDS, self._run)
            else:
                self._drain = loop.call_soon(self._run)
        return await future

    def _run(self) -> None:
        self._drain = None
        waiting, self._waiting = self._waiting, []
        together = False
        while waiting:
            group = _take_group(waiting, self.max_rows)
            together = together or len(group) > 1
            self._score(group)
        self._together = together

    def _score(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                _settle(group[0], self._predict(group[0].model, group[0].frame))
                return
            import numpy as np
            import pandas as pd

            frames = [item.frame for item in group]
            combined = pd.concat(frames, ignore_index=True)
            predictions = self._predict(group[0].model, combined)
            bounds = np.cumsum([len(frame) for frame in frames])[:-1]
            for item, part in zip(group, np.split(predictions, bounds), strict=True):
                _settle(item, part)
        except Exception as exc:
            if len(group) == 1:
                _fail(group[0], exc)
                return
            for item in group:  # on its own, each request fails (or not) by itself
                try:
                    _settle(item, self._predict(item.model, item.frame))
                except Exception as single:
                    _fail(item, single)


def _take_group(waiting: list[_Waiting], max_rows: int) -> list[_Waiting]:
    """The first waiting request and those after it with the same model, within `max_rows`."""
    first = waiting.pop(0)
    group, rows = [first], len(first.frame)
    rest: list[_Waiting] = []
    for item in waiting:
        if item.model is first.model and rows + len(item.frame) <= max_rows:
            group.append(item)
            rows += len(item.frame)
        else:
            rest.append(item)
    waiting[:] = rest
    return group


def _settle(item: _Waiting, predictions: np.ndarray) -> None:
    if not item.future.done():  # a client that went away cancelled its future
        item.future.set_result(predictions)


def _fail(item: _Waiting, exc: Exception) -> None:
    if not item.future.done():
        item.future.set_exception(exc)
