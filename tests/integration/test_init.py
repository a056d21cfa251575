"""`mlops init` on the user's own data, then `make run` in the new folder: the real toolchain.

The data files are built here: a rare-positive binary CSV with an R-style row-number column,
a regression CSV with ordered categories (~50k rows), and a multiclass Parquet file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
BIN = VENV / "bin"


def env() -> dict[str, str]:
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT", "MLOPS_ALLOW_UNSAFE_MODEL")
    values = {k: v for k, v in os.environ.items() if k not in ignored}
    values["PATH"] = f"{BIN}{os.pathsep}{values.get('PATH', '')}"
    values.update(DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    values.setdefault("GIT_AUTHOR_NAME", "test")
    values.setdefault("GIT_AUTHOR_EMAIL", "test@example.com")
    values.setdefault("GIT_COMMITTER_NAME", "test")
    values.setdefault("GIT_COMMITTER_EMAIL", "test@example.com")
    return values


def run(*args: str | Path, cwd: Path, check: bool = True, extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**env(), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def mlops(*args: str | Path, cwd: Path, check: bool = True):  # type: ignore[no-untyped-def]
    return run(BIN / "mlops", *args, cwd=cwd, check=check)


def make_run(project: Path, check: bool = True):  # type: ignore[no-untyped-def]
    """`make run` with the test's environment (the toolkit already installed there)."""
    return run("make", "run", f"VENV={VENV}", cwd=project, check=check)


def rare_binary_csv(path: Path, rows: int = 1500) -> Path:
    """~4% positives, a categorical feature, and an R-style first column (row numbers, unnamed)
    in a file sorted by the label: a row-number feature would leak the label."""
    rng = np.random.default_rng(7)
    balance = rng.normal(0, 1, rows)
    income = rng.normal(0, 1, rows)
    student = rng.choice(["Yes", "No"], rows, p=[0.3, 0.7])
    logit = -4.2 + 2.2 * balance - 0.5 * income + 0.8 * (student == "Yes")
    default = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    frame = pd.DataFrame(
        {"default": default, "student": student, "balance": balance, "income": income}
    ).sort_values("default", kind="stable")
    frame.insert(0, "", np.arange(1, rows + 1))  # R's write.csv: unnamed row numbers
    frame.to_csv(path, index=False)
    return path


def ordinal_regression_csv(path: Path, rows: int = 50_000) -> Path:
    rng = np.random.default_rng(11)
    cut = rng.choice(["Fair", "Good", "Very Good", "Premium", "Ideal"], rows)
    carat = rng.gamma(2.0, 0.4, rows)
    quality = pd.Series(cut).map({"Fair": 0, "Good": 1, "Very Good": 2, "Premium": 3, "Ideal": 4})
    price = 3000 * carat + 250 * quality.to_numpy() + rng.normal(0, 400, rows)
    frame = pd.DataFrame({"carat": carat, "cut": cut, "depth": rng.normal(61, 1.5, rows)})
    frame["price"] = price
    frame = frame.sort_values("price")
    frame.insert(0, "rownames", np.arange(1, rows + 1))
    frame.to_csv(path, index=False)
    return path


def multiclass_parquet(path: Path, rows: int = 900) -> Path:
    rng = np.random.default_rng(3)
    label = rng.choice(["a", "b", "c"], rows)
    shift = pd.Series(label).map({"a": 0.0, "b": 1.5, "c": 3.0}).to_numpy()
    frame = pd.DataFrame(
        {
            "x1": rng.normal(0, 1, rows) + shift,
            "x2": rng.normal(0, 1, rows) - shift,
            "colour": rng.choice(["red", "green", "blue"], rows),
            "label": label,
        }
    )
    frame.to_parquet(path, index=False)
    return path


def schema(project: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((project / "data" / "schema.json").read_text(encoding="utf-8"))


def params(project: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_rare_binary_csv_with_row_numbers(tmp_path: Path) -> None:
    source = rare_binary_csv(tmp_path / "Default.csv")
    project = tmp_path / "credit"
    done = mlops("init", project, "--source", source, "--target", "default", "--yes", cwd=tmp_path)
    assert "task: classification" in done.stderr
    settings = params(project)
    assert set(settings["gate"]["metrics"]) == {"average_precision", "balanced_accuracy"}
    assert settings["gate"]["primary"] == "average_precision"
    assert settings["model"]["class_weight"] == "balanced"
    assert (project / "data" / "source" / "Default.csv").is_file()
    assert (project / "data" / "source" / "Default.csv.dvc").is_file()  # versioned by DVC
    local = yaml.safe_load((project / "configs" / "local.yaml").read_text())
    assert local["registry"]["model_name"] == "credit"
    make_run(project)
    contract = schema(project)
    assert contract["features"] and "" not in contract["features"]
    assert "student" in contract["features"]
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["balanced_accuracy"] > 0.6
    record = json.loads((project / "reports" / "promotion.json").read_text())
    assert record["verdict"] == "promoted"
    assert (project / "reports" / "champion.json").is_file()
    drift = json.loads((project / "reports" / "drift.json").read_text())
    assert drift["prediction"], "prediction drift is tested against the new champion"
    assert mlops("pipeline", "check", cwd=project).returncode == 0
    assert mlops("doctor", cwd=project).returncode == 0
    # Data outputs never reach git.
    status = run("git", "status", "--porcelain", "--untracked-files=all", cwd=project).stdout
    assert "data/raw" not in status and "data/processed" not in status
    assert "model.skops" not in status
    # A second `make run` with nothing changed runs no stage and writes no record.
    before = (project / "reports" / "promotion.json").read_bytes()
    again = make_run(project)
    assert "Running stage" not in again.stdout + again.stderr
    assert (project / "reports" / "promotion.json").read_bytes() == before


@pytest.mark.slow
def test_regression_with_ordered_categories(tmp_path: Path) -> None:
    source = ordinal_regression_csv(tmp_path / "diamonds.csv")
    project = tmp_path / "diamonds"
    mlops("init", project, "--source", source, "--target", "price", cwd=tmp_path)
    settings = params(project)
    assert settings["data"]["task"] == "regression"
    assert set(settings["gate"]["metrics"]) == {"r2", "rmse"}
    text = (
        (project / "params.yaml")
        .read_text()
        .replace("ordinal: {}", "ordinal: {cut: [Fair, Good, Very Good, Premium, Ideal]}")
    )
    (project / "params.yaml").write_text(text)
    make_run(project)
    contract = schema(project)
    assert "rownames" not in contract["features"]
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert 0.5 < metrics["r2"] < 0.999, metrics


@pytest.mark.slow
def test_multiclass_parquet(tmp_path: Path) -> None:
    source = multiclass_parquet(tmp_path / "points.parquet")
    project = tmp_path / "points"
    mlops(
        "init",
        project,
        "--source",
        source,
        "--target",
        "label",
        "--name",
        "points-model",
        cwd=tmp_path,
    )
    settings = params(project)
    assert settings["data"]["task"] == "classification"
    assert set(settings["gate"]["metrics"]) == {"roc_auc", "balanced_accuracy"}
    make_run(project)
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["roc_auc"] > 0.8


def test_init_refuses_to_overwrite_and_is_idempotent(tmp_path: Path) -> None:
    source = multiclass_parquet(tmp_path / "points.parquet", rows=120)
    project = tmp_path / "p"
    mlops("init", project, "--source", source, "--target", "label", cwd=tmp_path)
    again = mlops("init", project, "--source", source, "--target", "label", "--yes", cwd=tmp_path)
    assert "unchanged" in again.stderr
    (project / "Makefile").write_text("# mine\n")
    refused = mlops(
        "init", project, "--source", source, "--target", "label", cwd=tmp_path, check=False
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "Makefile" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert (project / "Makefile").read_text() == "# mine\n"
    mlops("init", project, "--source", source, "--target", "label", "--force", cwd=tmp_path)
    assert (project / "Makefile").read_text() != "# mine\n"


def test_init_errors_are_one_line(tmp_path: Path) -> None:
    source = multiclass_parquet(tmp_path / "points.parquet", rows=60)
    missing = mlops(
        "init",
        tmp_path / "a",
        "--source",
        tmp_path / "nope.csv",
        "--target",
        "y",
        cwd=tmp_path,
        check=False,
    )
    assert missing.returncode == 1 and "nope.csv" in missing.stderr
    wrong = mlops(
        "init", tmp_path / "b", "--source", source, "--target", "nope", cwd=tmp_path, check=False
    )
    assert wrong.returncode == 1 and "nope" in wrong.stderr and "label" in wrong.stderr
    assert "Traceback" not in missing.stderr + wrong.stderr


def test_init_given_the_data_file_as_its_folder_says_to_pass_it_as_source(tmp_path: Path) -> None:
    """`mlops init data.csv --source data.csv ...` said only `data.csv: File exists`."""
    source = multiclass_parquet(tmp_path / "points.parquet", rows=60)
    before = source.read_bytes()
    result = mlops(
        "init", "points.parquet", "--source", source, "--target", "label", cwd=tmp_path, check=False
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: points.parquet: is a file, not a folder;")
    assert "--source points.parquet" in line
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.parquet"]


def test_repository_example_files_come_from_the_templates() -> None:
    """This repository's example project is the templates rendered with `EXAMPLE` (as committed)."""
    from mlops import pipeline, scaffold
    from mlops.project import open_project

    files = scaffold.render(scaffold.EXAMPLE, pinned="mlops")

    def committed(name: str) -> str:
        shown = subprocess.run(
            ["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return shown.stdout if shown.returncode == 0 else (ROOT / name).read_text(encoding="utf-8")

    for name in scaffold.EXAMPLE_FILES:
        assert committed(name) == files[name], f"{name} differs from its template"
    assert committed("dvc.yaml") == pipeline.render(open_project(ROOT))
    tune_file = pipeline.TUNE_DVC_FILE
    assert committed(tune_file) == pipeline.render(open_project(ROOT), tune_file)


def test_pipeline_check_and_write(tmp_path: Path) -> None:
    source = multiclass_parquet(tmp_path / "points.parquet", rows=60)
    project = tmp_path / "p"
    mlops("init", project, "--source", source, "--target", "label", cwd=tmp_path)
    dvc_yaml = project / "dvc.yaml"
    tree = yaml.safe_load(dvc_yaml.read_text())
    assert "data/source/points.parquet" in tree["stages"]["ingest"]["deps"]
    assert {".mlops.yaml": ["mlops_version"]} in tree["stages"]["train"]["params"]
    assert tree["stages"]["evaluate"]["cmd"] == "mlops eval --no-gate"
    assert len(tree["plots"]) == 3  # each plot declared once
    tree["stages"]["train"]["cmd"] = "mlops train --something"
    dvc_yaml.write_text(yaml.safe_dump(tree))
    drifted = mlops("pipeline", "check", cwd=project, check=False)
    assert drifted.returncode == 3 and "'train'" in drifted.stdout
    mlops("pipeline", "write", cwd=project)
    assert mlops("pipeline", "check", cwd=project).returncode == 0


def test_wheel_ships_the_templates_and_init_works_from_it(tmp_path: Path) -> None:
    """`pip install` of the built wheel (no source tree on the path) can `mlops init`."""
    wheels = tmp_path / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        wheels,
        ROOT,
        cwd=tmp_path,
    )
    wheel = next(wheels.glob("mlops-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlops/templates/project/params.yaml.j2" in names
    assert "mlops/templates/project/Makefile.j2" in names
    assert "mlops/templates/project/monitoring/grafana/dashboard.json" in names
    target = tmp_path / "site"
    run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "-q",
        "--target",
        target,
        wheel,
        cwd=tmp_path,
    )
    source = multiclass_parquet(tmp_path / "points.parquet", rows=200)
    elsewhere = tmp_path / "outside" / "proj"
    done = run(
        sys.executable, "-c",
        "import sys, mlops; assert mlops.__file__.startswith(sys.argv[1]), mlops.__file__; "
        "from mlops.cli.main import run; sys.argv = ['mlops', *sys.argv[2:]]; run()",
        target, "init", elsewhere, "--source", source, "--target", "label",
        cwd=tmp_path, extra={"PYTHONPATH": str(target)},
    )  # fmt: skip
    assert "next:" in done.stdout
    assert (elsewhere / "params.yaml").is_file() and (elsewhere / "dvc.yaml").is_file()
    assert "mlops" in (elsewhere / "requirements.txt").read_text()
    # `make run` there, every mlops process importing the installed wheel.
    done = run("make", "run", f"VENV={VENV}", cwd=elsewhere, extra={"PYTHONPATH": str(target)})
    # The last line says what to do next: look at the runs, serve the champion, commit.
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("next: mlflow ui --backend-store-uri sqlite:///mlflow.db  |"), last
    assert "mlops serve" in last and "git add dvc.lock params.yaml" in last
    assert (
        json.loads((elsewhere / "reports" / "promotion.json").read_text())["verdict"] == "promoted"
    )
    shutil.rmtree(target)
