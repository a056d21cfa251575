"""`mlops predict INPUT OUTPUT`: outputs, chunking, validation errors and atomic writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from integration.serving import feature_rows, pyfunc_predictions, register

from .conftest import Invoke
from .helpers import assert_one_line_error


@pytest.fixture
def champion(trained_project: Path) -> Path:
    register(trained_project)
    return trained_project


@pytest.fixture
def rows(champion: Path) -> pd.DataFrame:
    return feature_rows(champion)


def _temp_files(directory: Path, name: str) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(f".{name}.")]


def test_predict_writes_predictions_probabilities_and_the_model(
    cli: Invoke, champion: Path, rows: pd.DataFrame
) -> None:
    source = champion / "rows.parquet"
    rows.assign(customer_id=np.arange(len(rows))).to_parquet(source)
    result = cli("predict", str(source), "scored.parquet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "scored.parquet"
    assert f"scored {len(rows)} rows, 2 with missing values" in result.stderr
    assert "warning: ignoring 1 column the model does not use: customer_id" in result.stderr
    out = pd.read_parquet(champion / "scored.parquet")
    assert len(out) == len(rows)
    assert out["customer_id"].tolist() == list(range(len(rows)))  # passed through, in order
    assert out["prediction"].tolist() == pyfunc_predictions(champion, rows)
    proba = out[[c for c in out.columns if c.startswith("proba_")]]
    assert sorted(proba.columns) == ["proba_Adelie", "proba_Chinstrap", "proba_Gentoo"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(out["model_name"]) == {"penguins-classifier"}
    assert set(out["model_version"]) == {"1"}


def test_csv_in_small_chunks_gives_the_same_answers(
    cli: Invoke, champion: Path, rows: pd.DataFrame
) -> None:
    rows.to_parquet(champion / "rows.parquet")
    rows.to_csv(champion / "rows.csv", index=False)
    assert cli("predict", "rows.parquet", "whole.parquet").exit_code == 0
    result = cli("predict", "rows.csv", "chunked.csv", "--batch-size", "7")
    assert result.exit_code == 0, result.stderr
    whole = pd.read_parquet(champion / "whole.parquet")
    chunked = pd.read_csv(champion / "chunked.csv")
    assert chunked["prediction"].tolist() == whole["prediction"].tolist()
    np.testing.assert_allclose(chunked["proba_Adelie"], whole["proba_Adelie"])


def test_every_missing_column_is_named_and_nothing_is_written(
    cli: Invoke, champion: Path, rows: pd.DataFrame
) -> None:
    rows.drop(columns=["island", "sex"]).to_parquet(champion / "rows.parquet")
    result = cli("predict", "rows.parquet", "out.parquet")
    assert_one_line_error(result, r"missing 2 required columns: island, sex")
    assert not (champion / "out.parquet").exists()
    assert _temp_files(champion, "out.parquet") == []


def test_a_bad_value_deep_in_the_file_leaves_no_partial_output(
    cli: Invoke, champion: Path, rows: pd.DataFrame
) -> None:
    text = rows.astype({"bill_length_mm": object})
    text.loc[len(text) - 1, "bill_length_mm"] = "n/a-ish"
    text.to_csv(champion / "rows.csv", index=False)
    result = cli("predict", "rows.csv", "out.csv", "--batch-size", "10")
    assert_one_line_error(result, r"rows\.csv")
    assert not (champion / "out.csv").exists()
    assert _temp_files(champion, "out.csv") == []


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (("rows.parquet", "out.json"), r"unsupported output type '\.json'"),
        (("nope.parquet", "out.parquet"), r"nope\.parquet: file not found"),
        (("rows.parquet", "rows.parquet"), r"would overwrite the input"),
        (("rows.parquet", "out.parquet", "--model", "models:/nope@champion"), r"nope"),
    ],
    ids=["output-type", "missing-input", "overwrite", "unknown-model"],
)
def test_usage_mistakes_are_one_line_errors(
    cli: Invoke, champion: Path, rows: pd.DataFrame, args: tuple[str, ...], pattern: str
) -> None:
    rows.to_parquet(champion / "rows.parquet")
    assert_one_line_error(cli("predict", *args), pattern)


def test_before_any_promotion_the_error_says_how_to_make_a_champion(
    cli: Invoke, trained_project: Path
) -> None:
    feature_rows(trained_project).to_parquet(trained_project / "rows.parquet")
    for command in (("predict", "rows.parquet", "out.parquet"), ("explain", "rows.parquet")):
        assert_one_line_error(
            cli(*command), r"has no alias 'champion' \(nothing promoted yet: run `mlops promote`\)$"
        )
    assert not (trained_project / "out.parquet").exists()


def test_a_model_version_can_be_named(cli: Invoke, champion: Path, rows: pd.DataFrame) -> None:
    rows.to_parquet(champion / "rows.parquet")
    register(champion, champion=False)  # v2, not the champion
    result = cli("predict", "rows.parquet", "out.parquet", "-m", "models:/penguins-classifier/2")
    assert result.exit_code == 0, result.stderr
    assert set(pd.read_parquet(champion / "out.parquet")["model_version"]) == {"2"}


def test_serving_help_loads_no_heavy_module() -> None:
    """`mlops predict/serve --help` load neither the data stack nor the server stack."""
    heavy = ("numpy", "pandas", "pyarrow", "sklearn", "mlflow", "uvicorn", "starlette",
             "prometheus_client", "orjson")  # fmt: skip
    code = (
        "import contextlib, io, sys\n"
        "import mlops.cli.main as m\n"
        "for cmd in ('predict', 'serve'):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        m.app([cmd, '--help'], prog_name='mlops')\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & set(sys.argv[1:])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *heavy], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_threads_option_and_setting_give_the_same_answers(
    cli: Invoke, champion: Path, rows: pd.DataFrame
) -> None:
    rows.to_parquet(champion / "rows.parquet")
    assert cli("predict", "rows.parquet", "default.parquet").exit_code == 0  # predict.threads: 1
    result = cli("predict", "rows.parquet", "two.parquet", "--threads", "2")
    assert result.exit_code == 0, result.stderr
    refused = cli("predict", "rows.parquet", "zero.parquet", "--threads", "0")
    assert refused.exit_code == 2
    default = pd.read_parquet(champion / "default.parquet")
    two = pd.read_parquet(champion / "two.parquet")
    assert two["prediction"].tolist() == default["prediction"].tolist()
    np.testing.assert_allclose(two["proba_Adelie"], default["proba_Adelie"])
