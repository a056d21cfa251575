"""The study's plots as static PNG files (matplotlib, Agg): history and parameter importances."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from mlops import artifacts

log = logging.getLogger(__name__)


def _save(figure: Any, target: Path) -> Path:
    with artifacts.atomic_path(target) as temp:
        figure.savefig(temp, format="png", dpi=100, bbox_inches="tight")
    return target


def write_plots(study: Any, folder: Path) -> list[Path]:
    """`optimization_history.png` and (two or more complete trials) `param_importances.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots

    folder.mkdir(parents=True, exist_ok=True)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    wanted: list[tuple[str, Any]] = [("optimization_history", plots.plot_optimization_history)]
    if len(complete) >= 2:
        wanted.append(("param_importances", plots.plot_param_importances))
    written = []
    for name, plot in wanted:
        try:
            with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
                warnings.simplefilter("ignore")
                axes = plot(study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            written.append(_save(figure, folder / f"{name}.png"))
            plt.close(figure)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few distinct trials
            log.info("no %s plot: %s", name, exc)
    return written
