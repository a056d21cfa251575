"""Promote capability: candidate vs champion -> a decision record, aliases moved under a lock."""

from __future__ import annotations

from mlops.promote._common import (
    CHAMPION_FILE,
    PromotionResult,
    candidate_run_id,
    write_champion,
)
from mlops.promote._rollback import run_rollback
from mlops.promote._run import run_promotion
from mlops.promote.record import DecisionRecord

__all__ = [
    "CHAMPION_FILE",
    "DecisionRecord",
    "PromotionResult",
    "candidate_run_id",
    "run_promotion",
    "run_rollback",
    "write_champion",
]
