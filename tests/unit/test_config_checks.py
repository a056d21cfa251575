"""The config is checked whole at load: every cross-field rule, all problems at once, each
naming the file and the key; the CLI prints one `error:` line per problem and exits 1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cli.helpers import USER_SETTINGS, process_env
from mlops.catalog import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlops.config import Params, check_params, load_config, load_params
from mlops.errors import ConfigError, ExitCode
from mlops.project import check_drift_columns, open_project

Invoke = Callable[..., Result]

#: A valid regression experiment (the example project is classification).
REGRESSION: dict[str, Any] = {
    "data": {"source": "builtin:diabetes", "target": "target", "task": "regression"},
    "model": {"estimator": "ridge", "params": {"ridge": {"alpha": 1.0}}},
    "gate": {"metrics": {"r2": {"min": 0.0}, "rmse": {"max": 80.0}}, "primary": "rmse"},
}
#: The `mlops init` template's form: hyperparameters per estimator.
KEYED: dict[str, Any] = {
    "data": {"source": "builtin:penguins", "target": "species", "task": "classification"},
    "model": {
        "estimator": "hist_gradient_boosting",
        "class_weight": None,
        "params": {
            "hist_gradient_boosting": {"max_iter": 100, "learning_rate": 0.1},
            "random_forest": {"n_estimators": 50, "max_depth": 6},
        },
    },
    "gate": {
        "metrics": {"roc_auc": {"min": 0.7}, "balanced_accuracy": {"min": 0.47}},
        "primary": "roc_auc",
        "regression_mode": "auto",
        "guard": None,
    },
}
#: The flat form: `model.params` holds the chosen estimator's hyperparameters only.
FLAT: dict[str, Any] = {
    "data": {"source": "builtin:penguins", "target": "species", "task": "classification"},
    "model": {
        "estimator": "hist_gradient_boosting",
        "params": {"max_iter": 100, "learning_rate": 0.1},
    },
    "gate": {"metrics": {"roc_auc": {"min": 0.7}}, "primary": "roc_auc"},
}


def _write(path: Path, tree: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def _problems(path: Path, *overrides: str) -> list[str]:
    """The problems `load_params` reports (none: an empty list)."""
    try:
        load_params(path, overrides)
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.fixture
def regression(tmp_path: Path) -> Path:
    return _write(tmp_path / "regression" / "params.yaml", REGRESSION)


@pytest.fixture
def keyed(tmp_path: Path) -> Path:
    return _write(tmp_path / "keyed" / "params.yaml", KEYED)


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    return _write(tmp_path / "flat" / "params.yaml", FLAT)


def _fresh_example(project: Path) -> None:
    """Only the files of a fresh example project are there (a failed command wrote nothing)."""
    assert sorted(p.name for p in project.iterdir()) == [
        ".mlops.yaml",
        "configs",
        "dvc.yaml",
        "params.yaml",
        "reports",
        "tune",  # tune/dvc.yaml: the `mlops tune` stage, outside `dvc repro`
    ]
    assert sorted(p.name for p in (project / "reports").iterdir()) == ["champion.json"]
    assert sorted(p.name for p in (project / "tune").iterdir()) == ["dvc.yaml"]


# --------------------------------------------------------------------------- valid files pass


def test_valid_files_pass(project: Path, regression: Path, keyed: Path) -> None:
    assert check_params(load_config().params) == []  # the example project
    assert load_params(regression).model.active() == {"alpha": 1.0}
    assert load_params(keyed).model.active() == {"max_iter": 100, "learning_rate": 0.1}
    assert check_params(Params()) == []  # the defaults fit each other


def test_every_metric_of_the_task_may_be_gated_guarded_and_primary(tmp_path: Path) -> None:
    for task, metrics in (
        ("classification", CLASSIFICATION_METRICS),
        ("regression", REGRESSION_METRICS),
    ):
        tree = KEYED if task == "classification" else REGRESSION
        path = _write(tmp_path / f"{task}.yaml", tree)
        gate = {"metrics": {m: {"min": 0.0} for m in metrics}, "guard": list(metrics)}
        for metric in metrics:
            assert _problems(path, f"gate={json.dumps(gate)}", f"gate.primary={metric}") == []


# --------------------------------------------------------------------------- each rule


#: (overrides on the regression file, the one problem expected after `<file>: `).
REGRESSION_RULES = {
    "gate metric of the other task": (
        ("gate.metrics.roc_auc.min=0.9",),
        "gate.metrics.roc_auc: 'roc_auc' is not a regression metric (known: rmse, mae, r2, mape)",
    ),
    "unknown gate metric": (
        ("gate.metrics.rsme.max=3",),
        "gate.metrics.rsme: 'rsme' is not a regression metric (known: rmse, mae, r2, mape)",
    ),
    "primary of the other task": (
        ("gate.primary=roc_auc",),
        "gate.primary: 'roc_auc' is not computed for regression (known: rmse, mae, r2, mape)",
    ),
    "guard of the other task": (
        ("gate.guard=[rmse, balanced_accuracy]",),
        "gate.guard: 'balanced_accuracy' is not a regression metric (known: rmse, mae, r2, mape)",
    ),
    "estimator of the other task": (
        ("model.estimator=logistic_regression",),
        "model.estimator: unknown estimator 'logistic_regression' for regression "
        "(known: ridge, random_forest, hist_gradient_boosting, extra_trees)",
    ),
    "class weight with regression": (
        ("model.class_weight=balanced",),
        "model.class_weight: balanced weighs classes, but data.task is regression; set it to null",
    ),
    "section of another task's estimator": (
        ("model.params.logistic_regression={C: 2}",),
        "model.params.logistic_regression: logistic_regression is not a regression estimator "
        "(known: ridge, random_forest, hist_gradient_boosting, extra_trees)",
    ),
    "NaN threshold": (
        ("gate.metrics.r2.min=.nan",),
        "gate.metrics.r2.min: must be a finite number (got nan)",
    ),
    "infinite threshold": (
        ("gate.metrics.rmse.max=.inf",),
        "gate.metrics.rmse.max: must be a finite number (got inf)",
    ),
    "negative infinite threshold": (
        ("gate.metrics.r2.min=-.inf",),
        "gate.metrics.r2.min: must be a finite number (got -inf)",
    ),
    "min above max": (
        ("gate.metrics.r2.max=0.5", "gate.metrics.r2.min=0.8"),
        "gate.metrics.r2: min 0.8 is above max 0.5; no value can pass",
    ),
    "infinite tolerance": (
        ("gate.max_regression=.inf",),
        "gate.max_regression: must be a finite number (got inf)",
    ),
    "target dropped": (
        ("data.drop=[bmi, target]",),
        "data.drop: lists the target 'target' (the column the model learns; "
        "remove it from data.drop)",
    ),
    "target as a feature": (
        ("data.features=[age, target]",),
        "data.features: lists the target 'target'; a model must not see its own label",
    ),
    "feature dropped": (
        ("data.features=[age, bmi]", "data.drop=[bmi]"),
        "data.features: 'bmi' is also in data.drop (keep it in one of them)",
    ),
    "ordinal column dropped": (
        ("data.ordinal={sex: ['1', '2']}", "data.drop=[sex]"),
        "data.ordinal.sex: the column is in data.drop",
    ),
    "a section that is not a mapping": (
        ("model.params.random_forest=300",),
        "model.params.random_forest: expected a mapping of hyperparameters (got 300)",
    ),
}


@pytest.mark.parametrize("rule", sorted(REGRESSION_RULES))
def test_each_rule_names_the_file_and_key(regression: Path, rule: str) -> None:
    overrides, expected = REGRESSION_RULES[rule]
    with pytest.raises(ConfigError) as caught:
        load_params(regression, overrides)
    assert caught.value.problems == [f"{regression}: {expected}"]
    assert str(caught.value) == f"{regression}: {expected}"
    assert caught.value.exit_code == ExitCode.ERROR


def test_flat_keys_override_the_chosen_estimators_section(regression: Path) -> None:
    """`--set model.params.alpha=3` (or `dvc exp run -S`) on a keyed file: the chosen one's."""
    params = load_params(regression, ("model.params.alpha=3.0",))
    assert params.model.sections(), "the file is keyed by estimator"
    assert params.model.active()["alpha"] == 3.0


def test_class_weight_set_twice(keyed: Path) -> None:
    assert _problems(keyed, "model.class_weight=balanced") == []
    assert _problems(
        keyed,
        "model.class_weight=balanced",
        "model.params.hist_gradient_boosting.class_weight={0: 1}",
    ) == [
        f"{keyed}: model.class_weight: also set as "
        "model.params.hist_gradient_boosting.class_weight; keep one"
    ]


def test_a_rule_holds_however_the_value_arrives(project: Path) -> None:
    """The example file edited by hand fails like an override does."""
    text = (project / "params.yaml").read_text(encoding="utf-8")
    assert "balanced_accuracy: {min: 0.9}" in text
    (project / "params.yaml").write_text(
        text.replace("balanced_accuracy: {min: 0.9}", "balanced_accuracy: {min: .nan}"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.problems == [
        "params.yaml: gate.metrics.balanced_accuracy.min: must be a finite number (got nan)"
    ]


def test_every_problem_is_reported_at_once(regression: Path) -> None:
    overrides = (
        "gate.metrics.accuracy.min=0.9",
        "gate.primary=log_loss",
        "gate.metrics.r2.min=.nan",
        "data.drop=[target]",
        "model.class_weight=balanced",
        "model.estimator=xgboost",
    )
    with pytest.raises(ConfigError) as caught:
        load_params(regression, overrides)
    keys = [line.removeprefix(f"{regression}: ").split(": ")[0] for line in caught.value.problems]
    assert keys == [
        "data.drop",
        "model.estimator",
        "model.class_weight",
        "gate.metrics.r2.min",
        "gate.metrics.accuracy",
        "gate.primary",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_every_type_error_is_reported_at_once(regression: Path) -> None:
    problems = _problems(
        regression, "split.test_size=big", "model.estimater=ridge", "train.n_jobs=0"
    )
    assert len(problems) == 3
    assert problems[0].startswith(f"{regression}: split.test_size: ")
    assert problems[1] == f"{regression}: unknown key 'model.estimater'"
    assert problems[2].startswith(f"{regression}: train.n_jobs: ")


def test_a_single_problem_keeps_the_plain_message() -> None:
    error = ConfigError("params.yaml: file not found")
    assert error.problems == ["params.yaml: file not found"]
    assert str(error) == "params.yaml: file not found"


# --------------------------------------------------------------------------- switching estimators


def test_one_override_switches_estimator_with_its_own_hyperparameters(keyed: Path) -> None:
    model = load_params(keyed, ("model.estimator=random_forest",)).model
    assert model.active() == {"n_estimators": 50, "max_depth": 6}
    assert model.params_key() == "model.params.random_forest"
    # No section: the estimator's defaults.
    assert load_params(keyed, ("model.estimator=extra_trees",)).model.active() == {}


def test_a_section_is_overridden_by_its_key(keyed: Path) -> None:
    model = load_params(keyed, ("model.params.random_forest.n_estimators=9",)).model
    assert model.active() == {"max_iter": 100, "learning_rate": 0.1}
    assert model.params["random_forest"] == {"n_estimators": 9, "max_depth": 6}


def test_the_flat_form_is_the_chosen_estimators(flat: Path) -> None:
    model = load_params(flat).model
    assert not model.per_estimator()
    assert model.active() == {"max_iter": 100, "learning_rate": 0.1}
    assert model.params_key() == "model.params"


def test_switching_on_the_flat_form_names_the_leftover_hyperparameters(flat: Path) -> None:
    from mlops.train import check_model_params

    params = load_params(flat, ("model.estimator=random_forest",))
    problems = check_model_params(params)
    assert [line.split(": ")[0] for line in problems] == [
        "model.params.learning_rate",
        "model.params.max_iter",
    ]
    assert problems[1].startswith("model.params.max_iter: random_forest has no parameter")


def test_run_names_show_the_chosen_estimators_hyperparameters(keyed: Path) -> None:
    from mlops.tracking.lineage import GitState, run_name

    git = GitState(commit="1a2b3c4d5e", dirty=False)
    model = load_params(keyed, ("model.estimator=random_forest",)).model
    assert run_name(model, git) == "rf-depth6-n50-1a2b3c4"
    assert run_name(load_params(keyed).model, git) == "hgb-lr0.1-it100-1a2b3c4"


# --------------------------------------------------------------------------- the schema contract


def _contract(project: Path, *columns: str, source: str = "builtin:penguins") -> Path:
    path = project / "data" / "schema.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    contract = {"source": source, "target": "species", "columns": [{"name": c} for c in columns]}
    path.write_text(json.dumps(contract), encoding="utf-8")
    return path


PENGUIN_COLUMNS = ("species", "island", "bill_length_mm", "body_mass_g", "sex")
DRIFT_OVERRIDES = (
    "drift.columns={bill_length_mm: ks, flipper_mm: ks}",
    "drift.critical=[island, year]",
    "drift.column_thresholds={body_mass: 0.2, prediction: 0.1}",
    "drift.exclude=[sex, rownames]",
)


def test_drift_columns_are_checked_once_there_is_a_contract(project: Path) -> None:
    assert open_project(overrides=DRIFT_OVERRIDES).root == project  # no contract yet
    schema = _contract(project, *PENGUIN_COLUMNS)
    with pytest.raises(ConfigError) as caught:
        open_project(overrides=DRIFT_OVERRIDES)
    shown = ", ".join(PENGUIN_COLUMNS)
    assert caught.value.problems == [
        f"{project / 'params.yaml'}: {key}: column {name!r} is not in the schema contract "
        f"schema.json (columns: {shown})"
        for key, name in (
            ("drift.columns", "flipper_mm"),
            ("drift.critical", "year"),
            ("drift.column_thresholds", "body_mass"),
            ("drift.exclude", "rownames"),
        )
    ]
    assert check_drift_columns(Params(), schema) == []
    # `mlops data ingest` rewrites the contract: it may skip the check.
    assert open_project(overrides=DRIFT_OVERRIDES, check_schema=False).root == project


def test_drift_columns_are_reported_with_the_other_problems(project: Path) -> None:
    _contract(project, *PENGUIN_COLUMNS)
    with pytest.raises(ConfigError) as caught:
        open_project(overrides=("drift.critical=[year]", "gate.primary=rmse"))
    assert [p.split(": ")[1] for p in caught.value.problems] == ["gate.primary", "drift.critical"]


def test_a_contract_of_other_data_or_unreadable_is_not_used(project: Path) -> None:
    _contract(project, "a", "b", source="data/old.csv")
    assert open_project(overrides=DRIFT_OVERRIDES).root == project
    (project / "data" / "schema.json").write_text("{not json", encoding="utf-8")
    assert open_project(overrides=DRIFT_OVERRIDES).root == project


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app_(), list(args), prog_name="mlops")

    return invoke


def app_() -> Any:
    from mlops.cli.main import app

    return app


def _error_lines(result: Result) -> list[str]:
    """Exit 1, nothing on stdout, only `error: ...` lines on stderr (no traceback)."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), result.stderr
    return lines


def test_cli_prints_one_error_line_per_problem(project: Path, cli: Invoke) -> None:
    params = project / "params.yaml"
    result = cli(
        "--set",
        "data.task=regression",
        "--set",
        "data.drop=[species]",
        "--set",
        "gate.max_regression=.inf",
        "data",
        "ingest",
    )
    assert _error_lines(result) == [
        f"error: {params}: data.drop: lists the target 'species' (the column the model learns; "
        "remove it from data.drop)",
        f"error: {params}: gate.metrics.roc_auc: 'roc_auc' is not a regression metric "
        "(known: rmse, mae, r2, mape)",
        f"error: {params}: gate.metrics.balanced_accuracy: 'balanced_accuracy' is not a "
        "regression metric (known: rmse, mae, r2, mape)",
        f"error: {params}: gate.primary: 'roc_auc' is not computed for regression "
        "(known: rmse, mae, r2, mape)",
        f"error: {params}: gate.max_regression: must be a finite number (got inf)",
    ]
    _fresh_example(project)


def test_cli_switches_estimator_with_one_override(project: Path, cli: Invoke) -> None:
    _write(project / "params.yaml", KEYED)
    assert _error_lines(cli("--set", "model.estimator=ridge", "data", "ingest")) == [
        f"error: {project / 'params.yaml'}: model.estimator: unknown estimator 'ridge' for "
        "classification (known: logistic_regression, random_forest, hist_gradient_boosting, "
        "extra_trees)"
    ]
    result = cli("--set", "model.estimator=random_forest", "data", "ingest")
    assert result.exit_code == 0, result.stderr
    assert (project / "data" / "schema.json").is_file()


def test_train_rejects_hyperparameters_before_reading_data(project: Path, cli: Invoke) -> None:
    """No data yet: the hyperparameters are what `mlops train` reports, not the missing split."""
    params = project / "params.yaml"
    result = cli("--set", "model.params.max_iter=-1", "--set", "model.params.max_iters=5", "train")
    lines = _error_lines(result)
    assert len(lines) == 2
    assert lines[0].startswith(
        f"error: {params}: model.params.max_iters: hist_gradient_boosting has no parameter "
        "'max_iters' (did you mean 'max_iter'? valid: "
    )
    assert lines[1] == (
        f"error: {params}: model.params.max_iter: The 'max_iter' parameter of "
        "HistGradientBoostingClassifier must be an int in the range [1, inf). Got -1 instead."
    )
    _fresh_example(project)
    # Without the bad values the same command gets as far as the missing data.
    assert re.search(r"run `mlops data ingest` first", _error_lines(cli("train"))[0])


def test_train_reports_a_keyed_section_by_its_key(project: Path, cli: Invoke) -> None:
    _write(project / "params.yaml", KEYED)
    result = cli("--set", "model.params.hist_gradient_boosting.max_iter=-1", "train")
    assert _error_lines(result) == [
        f"error: {project / 'params.yaml'}: model.params.hist_gradient_boosting.max_iter: "
        "The 'max_iter' parameter of HistGradientBoostingClassifier must be an int in the "
        "range [1, inf). Got -1 instead."
    ]


def test_checking_the_config_imports_no_heavy_module(project: Path) -> None:
    """Every command checks the config: that must not cost sklearn, pandas or MLflow."""
    code = textwrap.dedent(
        """
        import sys
        from mlops.project import open_project
        from mlops.errors import ConfigError
        open_project()
        try:
            open_project(overrides=("gate.primary=rmse", "data.drop=[species]"))
            problems = 0
        except ConfigError as exc:
            problems = len(exc.problems)
        heavy = {"sklearn", "pandas", "mlflow", "scipy"}
        print(problems, sorted({m.split(".")[0] for m in sys.modules} & heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        env=process_env(),
        check=True,
    )
    assert done.stdout.strip() == "2 []"
