"""What the child-process probe adds to loading an `--allow-unsafe-model` model.

    .venv/bin/python bench/model_probe.py [--runs 3]

A cloudpickle MLflow model directory (a 10-tree and a 300-tree random forest on 8 numeric
columns) is loaded through `registry.load_model_dir(allow_unsafe=True)`: first with the probe
(a child process loads the file and scores 3 rows), then again with the verdict cached (what a
server's later polls of the same file pay). Allowlisted skops models are never probed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def model_dir(root: Path, trees: int) -> Path:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2000, 8)), columns=[f"x{i}" for i in range(8)])
    target = (frame["x0"] + rng.normal(size=2000) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=1)
    model.fit(frame, target)
    path = root / f"forest-{trees}"
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    mlflow.sklearn.save_model(
        model,
        str(path),
        serialization_format="cloudpickle",
        signature=infer_signature(frame.head(), model.predict(frame.head())),
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlops import registry
    from mlops.registry import probe

    with tempfile.TemporaryDirectory() as tmp:
        for trees in (10, 300):
            path = model_dir(Path(tmp), trees)
            probed, cached = [], []
            for _ in range(args.runs):
                probe.forget()
                start = time.perf_counter()
                registry.load_model_dir(path, allow_unsafe=True)
                probed.append(time.perf_counter() - start)
                start = time.perf_counter()
                registry.load_model_dir(path, allow_unsafe=True)
                cached.append(time.perf_counter() - start)
            first, again = statistics.median(probed), statistics.median(cached)
            print(
                f"{trees:>3} trees: load with probe {first:.2f} s, with the verdict cached "
                f"{again:.2f} s (probe adds {first - again:.2f} s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
