"""Config loading: params.yaml + configs/*.yaml into frozen typed models, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mlops.config import (
    CONFIG_ENV_VAR,
    CsvParams,
    ModelParams,
    Params,
    Settings,
    Threshold,
    apply_overrides,
    flatten,
    load_config,
    load_params,
    load_settings,
    parse_override,
    read_yaml,
)
from mlops.errors import ConfigError, ExitCode
from mlops.project import open_project


def _write(path: Path, tree: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def _example_params(project: Path) -> dict[str, object]:
    loaded = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


# --------------------------------------------------------------------------- the example files


def test_example_project_loads_into_typed_objects(project: Path) -> None:
    config = load_config()
    assert config.params.data.source == "builtin:penguins"
    assert config.params.data.task == "classification"
    assert config.params.split.test_size == pytest.approx(0.2)
    assert config.params.model.estimator == "hist_gradient_boosting"
    assert config.params.model.params == {
        "hist_gradient_boosting": {"max_iter": 100, "learning_rate": 0.1}
    }
    assert config.params.model.active() == {"max_iter": 100, "learning_rate": 0.1}
    assert config.params.model.class_weight is None
    assert config.params.model.threshold is None
    assert config.params.data.ordinal == {}
    assert config.params.data.csv == CsvParams()
    assert config.params.train.n_jobs is None
    assert config.params.gate.metrics == {
        "roc_auc": Threshold(min=0.95),
        "balanced_accuracy": Threshold(min=0.9),
    }
    assert config.params.gate.primary == "roc_auc"
    assert config.params.gate.regression_mode == "auto"
    assert config.params.gate.guard is None
    assert config.params.drift.exclude == []
    assert config.settings.registry.model_name == "penguins-classifier"
    assert config.settings.paths.schema_file == Path("data/schema.json")
    assert config.settings.paths.model_file == Path("models/model.skops")
    assert config.params_path == Path("params.yaml")
    assert config.config_path == Path("configs/local.yaml")


def test_config_is_frozen(project: Path) -> None:
    config = load_config()
    with pytest.raises(ValidationError):
        config.params.split.seed = 1  # type: ignore[misc]


def test_empty_params_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert load_params(path) == Params()


def test_missing_default_settings_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    assert load_settings() == Settings()


def test_config_path_from_environment_variable(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _write(project / "configs" / "ci.yaml", {"tracking": {"experiment": "ci"}})
    monkeypatch.setenv(CONFIG_ENV_VAR, str(other))
    config = load_config()
    assert config.config_path == other
    assert config.settings.tracking.experiment == "ci"
    # An explicit path beats the environment variable.
    assert load_config(config_path=Path("configs/local.yaml")).settings.tracking.experiment == (
        "mlops"
    )


# --------------------------------------------------------------------------- errors


def test_unknown_key_in_params_is_an_error(project: Path) -> None:
    tree = _example_params(project)
    tree["model"] = {**tree["model"], "estimater": "ridge"}  # type: ignore[dict-item]
    _write(project / "params.yaml", tree)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == "params.yaml: unknown key 'model.estimater'"
    assert caught.value.exit_code == ExitCode.ERROR


def test_unknown_top_level_section_in_params_is_an_error(project: Path) -> None:
    tree = {**_example_params(project), "trainer": {"epochs": 3}}
    _write(project / "params.yaml", tree)
    with pytest.raises(ConfigError, match=r"params\.yaml: unknown key 'trainer'"):
        load_config()


def test_unknown_key_in_settings_is_an_error(project: Path) -> None:
    _write(project / "configs" / "local.yaml", {"tracking": {"url": "sqlite:///x.db"}})
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == f"{Path('configs/local.yaml')}: unknown key 'tracking.url'"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("split", "test_size", "a fifth", r"split\.test_size: .*valid number.*\(got 'a fifth'\)"),
        ("split", "test_size", 1.5, r"split\.test_size: .*less than 1.*\(got 1\.5\)"),
        ("split", "seed", "forty-two", r"split\.seed: .*valid integer"),
        ("data", "task", "clustering", r"data\.task: .*'classification' or 'regression'"),
        ("split", "stratify", "perhaps", r"split\.stratify: .*valid boolean"),
    ],
)
def test_wrong_type_in_params_names_the_key_and_value(
    project: Path, section: str, key: str, value: object, expected: str
) -> None:
    tree = _example_params(project)
    tree[section] = {**tree[section], key: value}  # type: ignore[dict-item]
    _write(project / "params.yaml", tree)
    with pytest.raises(ConfigError, match=r"^params\.yaml: " + expected):
        load_config()


def test_wrong_type_in_settings_names_the_key_and_value(project: Path) -> None:
    _write(project / "configs" / "local.yaml", {"serve": {"port": "eighty"}})
    with pytest.raises(ConfigError, match=r"local\.yaml: serve\.port: .*\(got 'eighty'\)"):
        load_config()


def test_threshold_needs_a_bound(project: Path) -> None:
    tree = _example_params(project)
    tree["gate"] = {"metrics": {"accuracy": {}}}
    _write(project / "params.yaml", tree)
    with pytest.raises(ConfigError, match=r"gate\.metrics\.accuracy: .*needs `min` or `max`"):
        load_config()


def test_missing_params_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == "params.yaml: file not found"


def test_missing_explicit_settings_file(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_path=Path("configs/prod.yaml"))
    assert str(caught.value) == f"{Path('configs/prod.yaml')}: file not found"


def test_bad_yaml_names_the_file_and_line(project: Path) -> None:
    (project / "params.yaml").write_text(
        "data:\n  source: builtin:iris\nsplit: {test_size: 0.2\nmodel: {}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"^params\.yaml \(line \d+\): not valid YAML$"):
        load_config()


def test_bad_yaml_in_settings(project: Path) -> None:
    (project / "configs" / "local.yaml").write_text("paths: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"local\.yaml \(line \d+\): not valid YAML"):
        load_config()


def test_yaml_that_is_not_a_mapping(project: Path) -> None:
    (project / "params.yaml").write_text("- data\n- split\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params\.yaml: expected a mapping at the top level"):
        load_config()


def test_non_utf8_params_file(project: Path) -> None:
    (project / "params.yaml").write_bytes(b"data:\n  target: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: "):
        load_config()


# --------------------------------------------------------------------------- --set overrides


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("split.test_size=0.3", ["split", "test_size"], 0.3),
        ("split.seed=7", ["split", "seed"], 7),
        ("split.stratify=false", ["split", "stratify"], False),
        ("split.order_by=null", ["split", "order_by"], None),
        ("data.drop=[year, sex]", ["data", "drop"], ["year", "sex"]),
        ("model.params={max_depth: 3}", ["model", "params"], {"max_depth": 3}),
        ("model.estimator=random_forest", ["model", "estimator"], "random_forest"),
        ("model.params.learning_rate=1e-2", ["model", "params", "learning_rate"], 0.01),
        ("data.source=data/a=b.csv", ["data", "source"], "data/a=b.csv"),
        ("data.source=", ["data", "source"], ""),
    ],
)
def test_parse_override_reads_values_as_yaml(text: str, keys: list[str], value: object) -> None:
    parsed_keys, parsed = parse_override(text)
    assert parsed_keys == keys
    assert parsed == value
    assert type(parsed) is type(value)


def test_scientific_notation_is_a_float_in_files_too(project: Path) -> None:
    tree = _example_params(project)
    _write(project / "params.yaml", tree)
    text = (project / "params.yaml").read_text(encoding="utf-8")
    (project / "params.yaml").write_text(
        text.replace("learning_rate: 0.1", "learning_rate: 1e-3"), encoding="utf-8"
    )
    model = load_config().params.model
    assert model.params["hist_gradient_boosting"]["learning_rate"] == pytest.approx(0.001)
    assert isinstance(model.active()["learning_rate"], float)


def test_overrides_apply_with_yaml_types(project: Path) -> None:
    config = load_config(
        overrides=(
            "model.params.max_iter=50",
            "model.params.early_stopping=true",
            "split.test_size=0.25",
            "data.drop=[year]",
            "gate.metrics.balanced_accuracy.min=1.01",
        )
    )
    # Flat keys sit beside the estimator's section and override it.
    assert config.params.model.params == {
        "hist_gradient_boosting": {"max_iter": 100, "learning_rate": 0.1},
        "max_iter": 50,
        "early_stopping": True,
    }
    assert config.params.model.active() == {
        "max_iter": 50,
        "learning_rate": 0.1,
        "early_stopping": True,
    }
    assert config.params.split.test_size == pytest.approx(0.25)
    assert config.params.data.drop == ["year"]
    assert config.params.gate.metrics["balanced_accuracy"].min == pytest.approx(1.01)
    assert config.overrides == (
        "model.params.max_iter=50",
        "model.params.early_stopping=true",
        "split.test_size=0.25",
        "data.drop=[year]",
        "gate.metrics.balanced_accuracy.min=1.01",
    )
    # The file itself is untouched.
    assert load_config().params.model.active()["max_iter"] == 100


def test_later_override_wins(project: Path) -> None:
    config = load_config(overrides=("split.seed=1", "split.seed=2"))
    assert config.params.split.seed == 2


def test_override_creates_missing_sections(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("", encoding="utf-8")
    assert load_params(params, ("model.params.C=0.5",)).model.params == {"C": 0.5}


def test_override_is_validated_like_the_file(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'model.bogus'"):
        load_config(overrides=("model.bogus=1",))
    with pytest.raises(ConfigError, match=r"split\.test_size: .*\(got 'abc'\)"):
        load_config(overrides=("split.test_size=abc",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("split.seed", r"--set 'split.seed': expected key\.path=value"),
        ("=3", r"--set '=3': expected key\.path=value"),
        ("data.drop=[year", r"--set 'data.drop=\[year': value is not valid YAML"),
        ("split.seed.value=3", r"--set 'split.seed.value=3': 'seed' is not a section"),
    ],
)
def test_malformed_override(project: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=(text,))


def test_apply_overrides_does_not_mutate_its_input() -> None:
    tree = {"split": {"seed": 1}}
    result = apply_overrides(tree, ("split.seed=2",))
    assert result == {"split": {"seed": 2}}
    assert tree == {"split": {"seed": 1}}


# --------------------------------------------------------------------------- flat params and hash


def test_params_flat_is_what_mlflow_records(project: Path) -> None:
    flat = load_config().params_flat()
    assert flat["model.params.hist_gradient_boosting.max_iter"] == "100"
    assert flat["model.params.hist_gradient_boosting.learning_rate"] == "0.1"
    assert flat["model.estimator"] == "hist_gradient_boosting"
    assert flat["data.drop"] == "[]"
    assert flat["data.ordinal"] == "{}"
    assert flat["split.order_by"] == "None"
    assert flat["gate.metrics.roc_auc.min"] == "0.95"
    assert flat["gate.metrics.balanced_accuracy.min"] == "0.9"
    assert flat["gate.guard"] == "None"
    assert all(isinstance(value, str) for value in flat.values())
    assert "model.params" not in flat
    assert "model.params.max_iter" not in flat


def test_flatten_nested_and_empty() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": []}, "e": {}}) == {
        "a.b.c": "1",
        "a.d": "[]",
        "e": "{}",
    }


def test_params_hash_is_stable_and_tracks_changes(project: Path) -> None:
    first = load_config().params_hash()
    assert first == load_config().params_hash()
    assert len(first) == 64
    assert load_config(overrides=("model.params.max_iter=101",)).params_hash() != first
    # Settings are the environment, not the experiment: they do not change the hash.
    _write(project / "configs" / "local.yaml", {"tracking": {"experiment": "elsewhere"}})
    assert load_config().params_hash() == first


# --------------------------------------------------------------------------- model.params forms


def test_model_params_active_in_each_form() -> None:
    flat = ModelParams(params={"max_iter": 5, "learning_rate": 0.2})
    assert not flat.per_estimator()
    assert flat.active() == {"max_iter": 5, "learning_rate": 0.2}
    sections = {"random_forest": {"n_estimators": 3}, "hist_gradient_boosting": {"max_iter": 5}}
    keyed = ModelParams(estimator="random_forest", params=sections)
    assert keyed.per_estimator()
    assert keyed.sections() == sections
    assert keyed.active() == {"n_estimators": 3}
    assert keyed.model_copy(update={"estimator": "extra_trees"}).active() == {}
    assert ModelParams(estimator="ridge", params={"ridge": None}).active() == {}
    assert ModelParams().active() == {}


def test_keyed_params_are_recorded_per_estimator(project: Path) -> None:
    config = load_config(
        overrides=(
            "model.params={hist_gradient_boosting: {max_iter: 7}, random_forest: {n_estimators: 9}}",
            "model.estimator=random_forest",
        )
    )
    assert config.params.model.active() == {"n_estimators": 9}
    flat = config.params_flat()
    assert flat["model.params.hist_gradient_boosting.max_iter"] == "7"
    assert flat["model.params.random_forest.n_estimators"] == "9"


def test_a_flat_override_is_recorded_in_the_chosen_estimators_section(project: Path) -> None:
    """`--set model.params.learning_rate=0.05` fits with 0.05: MLflow recorded the section's
    stale 0.1 beside a flat key, so `runs compare` showed 0.05 against `—`."""
    config = load_config(overrides=("model.params.learning_rate=0.05",))
    assert config.params.model.active()["learning_rate"] == 0.05
    flat = config.params_flat()
    assert flat["model.params.hist_gradient_boosting.learning_rate"] == "0.05"
    assert flat["model.params.hist_gradient_boosting.max_iter"] == "100"
    assert "model.params.learning_rate" not in flat
    # Switching estimator with a flat key: the key goes to the new estimator's section only.
    switched = load_config(
        overrides=("model.estimator=random_forest", "model.params.n_estimators=7")
    ).params_flat()
    assert switched["model.params.random_forest.n_estimators"] == "7"
    assert switched["model.params.hist_gradient_boosting.learning_rate"] == "0.1"


def test_class_weight_is_balanced_or_null(project: Path) -> None:
    assert load_config().params.model.class_weight is None
    weighted = load_config(overrides=("model.class_weight=balanced",))
    assert weighted.params.model.class_weight == "balanced"
    with pytest.raises(ConfigError, match=r"^params\.yaml: model\.class_weight: .*'balanced'"):
        load_config(overrides=("model.class_weight=heavy",))


# --------------------------------------------------------------------------- train.n_jobs


def test_train_n_jobs_defaults_to_all_cores_and_is_validated(project: Path) -> None:
    assert load_config().params.train.n_jobs is None  # the example's `n_jobs: null`
    assert load_config(overrides=("train.n_jobs=1",)).params.train.n_jobs == 1
    with pytest.raises(ConfigError, match=r"^params\.yaml: train\.n_jobs: .*\(got 0\)$"):
        load_config(overrides=("train.n_jobs=0",))
    with pytest.raises(ConfigError, match=r"params\.yaml: unknown key 'train\.threads'"):
        load_config(overrides=("train.threads=2",))


# --------------------------------------------------------------------------- the project


def test_open_project_resolves_every_path_against_the_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = load_config()  # the files as written: relative paths
    notebooks = project / "notebooks" / "deep"
    notebooks.mkdir(parents=True)
    monkeypatch.chdir(notebooks)
    opened = open_project()  # found upwards from the working directory
    assert opened.root == project
    assert opened.params == raw.params
    for name in type(raw.settings.paths).model_fields:
        assert getattr(opened.paths, name) == project / getattr(raw.settings.paths, name), name
    assert opened.settings.tracking.uri.startswith(f"sqlite:///{project / 'mlflow.db'}?")
    assert opened.settings.tracking.artifact_root == project / "mlartifacts"
    assert opened.resolve("data/x.csv") == project / "data" / "x.csv"
    assert opened.resolve("/abs/x.csv") == Path("/abs/x.csv")
    assert open_project(project).root == project


def test_open_project_outside_a_project_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLOPS_PROJECT", raising=False)
    with pytest.raises(ConfigError, match=r"^not inside an mlops project \(no params\.yaml"):
        open_project()
    with pytest.raises(ConfigError, match=r": not an mlops project \(no params\.yaml\)$"):
        open_project(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "data:\n  target: x\ndata:\n  target: y\n",
            r"line 3\): not valid YAML \(duplicate key 'data'\)",
        ),
        (
            "data:\n  target: x\n  target: y\n",
            r"line 3\): not valid YAML \(duplicate key 'target'\)",
        ),
        ("a: &a [*a]\n", r"recursive alias"),
        ("x: " + "[" * 3000 + "]" * 3000 + "\n", r"nested too deeply"),
    ],
    ids=["duplicate section", "duplicate key", "recursive anchor", "deep nesting"],
)
def test_hostile_yaml_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    import re

    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
    assert re.search(message, str(caught.value)), str(caught.value)


def test_billion_laughs_is_refused_fast_and_small(tmp_path: Path) -> None:
    """Nine levels of nine aliases expand to 9^9 (387M) values: refused while composing, from the
    composed size (no expansion happens), so it takes milliseconds, not minutes and gigabytes."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"aliases expand to more than 100,000 values"):
        read_yaml(path)


def test_merge_keys_and_small_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nlist: &l [1, 2]\nagain: *l\n")
    assert read_yaml(path) == {
        "base": {"x": 1}, "other": {"x": 1, "y": 2}, "list": [1, 2], "again": [1, 2]
    }  # fmt: skip


@pytest.mark.parametrize(
    "registry",
    [
        {"model_name": "../../outside"},
        {"model_name": "a/b"},
        {"model_name": "bad\x07bell"},
        {"model_name": " padded"},
        {"champion_alias": "champ/../x"},
        {"previous_alias": "latest"},
    ],
)
def test_registry_names_that_would_become_paths_are_refused(
    project: Path, registry: dict[str, str]
) -> None:
    """A model name with `../` made promote create directories and a lock file outside the
    project before MLflow rejected it: refused at load, naming the key."""
    _write(project / "configs" / "local.yaml", {"registry": registry})
    key = next(iter(registry))
    with pytest.raises(ConfigError, match=rf"local\.yaml: registry.*{key}"):
        load_config()
    assert not (project.parent / "outside").exists()


@pytest.mark.parametrize("root", ["/tmp/elsewhere", "../elsewhere", "sub/../../elsewhere"])
def test_artifact_root_outside_the_project_is_refused(project: Path, root: str) -> None:
    _write(project / "configs" / "local.yaml", {"tracking": {"artifact_root": root}})
    with pytest.raises(ConfigError, match=r"tracking\.artifact_root: .* is outside the project"):
        open_project()


def test_model_names_mlops_init_writes_still_load(project: Path) -> None:
    _write(project / "configs" / "local.yaml", {"registry": {"model_name": "My Project v2.1"}})
    assert load_config().settings.registry.model_name == "My Project v2.1"
