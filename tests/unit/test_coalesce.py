"""Opportunistic batching: concurrent requests share a model call, each gets its own rows back."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.serve.coalesce import Coalescer


class Model:
    """Predicts 2 * x per row; refuses any frame holding a negative x (as an estimator might)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, _model: Any, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append(len(frame))
        if (frame["x"] < 0).any():
            raise ValueError("negative x")
        return frame["x"].to_numpy() * 2


def frame(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"x": list(values)})


async def _gather(coalescer: Coalescer, model: object, frames: list[pd.DataFrame]) -> list[Any]:
    return list(
        await asyncio.gather(*(coalescer.predict(model, f) for f in frames), return_exceptions=True)
    )


def test_requests_waiting_together_share_one_call_and_get_their_own_rows() -> None:
    predict = Model()
    coalescer = Coalescer(predict)
    frames = [frame(1), frame(2, 3), frame(4), frame(5, 6, 7)]
    results = asyncio.run(_gather(coalescer, "m", frames))
    assert [r.tolist() for r in results] == [[2], [4, 6], [8], [10, 12, 14]]
    assert predict.calls == [7]


def test_a_lone_request_is_scored_alone() -> None:
    predict = Model()
    coalescer = Coalescer(predict)

    async def one_by_one() -> list[list[float]]:
        return [(await coalescer.predict("m", frame(i))).tolist() for i in range(3)]

    assert asyncio.run(one_by_one()) == [[0], [2], [4]]
    assert predict.calls == [1, 1, 1]


def test_a_failing_request_fails_alone() -> None:
    predict = Model()
    coalescer = Coalescer(predict)
    results = asyncio.run(_gather(coalescer, "m", [frame(1), frame(-1), frame(3)]))
    assert results[0].tolist() == [2]
    assert isinstance(results[1], ValueError)
    assert results[2].tolist() == [6]
    assert predict.calls == [3, 1, 1, 1]  # the shared call failed, then each on its own


def test_requests_for_different_models_are_never_mixed() -> None:
    seen: list[tuple[str, int]] = []

    def predict(model: Any, f: pd.DataFrame) -> np.ndarray:
        seen.append((model, len(f)))
        return f["x"].to_numpy()

    coalescer = Coalescer(predict)

    async def mixed() -> list[Any]:
        jobs = [coalescer.predict(m, frame(i)) for i, m in enumerate("aabab")]
        return list(await asyncio.gather(*jobs))

    assert [r.tolist() for r in asyncio.run(mixed())] == [[0], [1], [2], [3], [4]]
    assert sorted(seen) == [("a", 3), ("b", 2)]


@pytest.mark.parametrize("limit", [1, 3])
def test_a_call_never_takes_more_than_max_rows(limit: int) -> None:
    predict = Model()
    coalescer = Coalescer(predict, max_rows=limit)
    frames = [frame(1), frame(2), frame(3), frame(4)]
    results = asyncio.run(_gather(coalescer, "m", frames))
    assert [r.tolist() for r in results] == [[2], [4], [6], [8]]
    assert max(predict.calls) <= limit
    assert sum(predict.calls) == 4


def test_one_predict_call_per_shared_call() -> None:
    predict = Model()  # the server counts its model calls in the function it passes here
    coalescer = Coalescer(predict)
    asyncio.run(_gather(coalescer, "m", [frame(1), frame(2)]))
    asyncio.run(_gather(coalescer, "m", [frame(3)]))
    assert len(predict.calls) == 2
