"""Permutation importance on the test split (sklearn.inspection): seeded, with its spread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import artifacts

if TYPE_CHECKING:
    import pandas as pd

N_REPEATS = 5


@dataclass(frozen=True)
class Importance:
    """How much the score drops when one input column is shuffled (mean and std of repeats)."""

    feature: str
    mean: float
    std: float

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "mean": self.mean, "std": self.std}


def sample_rows(features: pd.DataFrame, target: pd.Series, rows: int, seed: int) -> Any:
    """At most `rows` rows (a seeded sample; all of them when fewer)."""
    if len(features) <= rows:
        return features, target
    chosen = features.sample(n=rows, random_state=seed).index
    return features.loc[chosen], target.loc[chosen]


def permutation_importances(
    model: Any,
    features: pd.DataFrame,
    target: pd.Series,
    scoring: str | Callable[[Any, Any, Any], float],
    *,
    max_rows: int = 2000,
    seed: int = 0,
    n_repeats: int = N_REPEATS,
) -> list[Importance]:
    """Each input column's importance for `scoring`, most important first."""
    from sklearn.inspection import permutation_importance

    x, y = sample_rows(features, target, max_rows, seed)
    result = permutation_importance(
        model, x, y, scoring=scoring, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    found = [
        Importance(str(name), float(mean), float(std))
        for name, mean, std in zip(
            x.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(found, key=lambda item: (-item.mean, item.feature))


def plot_importances(importances: list[Importance], scoring: str, target: Path) -> Path:
    """A horizontal bar chart with the repeats' std as error bars (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = importances[:15][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(shown) + 1.2))
    ax.barh([i.feature for i in shown], [i.mean for i in shown], xerr=[i.std for i in shown])
    ax.set_xlabel(f"drop in {scoring} when shuffled (mean ± std of {N_REPEATS} repeats)")
    ax.set_title("Permutation importance (test split)")
    with artifacts.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return target
