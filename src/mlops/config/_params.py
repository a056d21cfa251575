"""`params.yaml`: the experiment, as frozen pydantic models (what DVC tracks per key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops import catalog
from mlops.catalog import Task


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvParams(_Frozen):
    """How to read a CSV source (each None: sniffed from the file)."""

    sep: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    #: Extra strings read as missing values (besides pandas' defaults).
    na_values: list[str] = Field(default_factory=list)
    #: The thousands separator of numbers written like `1,234` (None: numbers have none).
    thousands: str | None = Field(default=None, min_length=1, max_length=1)

    @model_validator(mode="after")
    def _distinct_marks(self) -> CsvParams:
        if self.thousands is not None and self.thousands in (self.sep, self.decimal):
            raise ValueError(f"thousands: {self.thousands!r} is also the separator or decimal mark")
        return self


class DataParams(_Frozen):
    """Where the data comes from and what to learn."""

    source: str = "builtin:penguins"
    target: str = "species"
    task: Task = "classification"
    features: list[str] | None = None
    drop: list[str] = Field(default_factory=list)
    #: Ordered categories: column -> levels, lowest first (encoded in order, not one-hot).
    ordinal: dict[str, list[str]] = Field(default_factory=dict)
    csv: CsvParams = Field(default_factory=CsvParams)
    #: Personal data found by the ingest scan: column -> drop | hash (keyed) | keep.
    pii: dict[str, Literal["drop", "hash", "keep"]] = Field(default_factory=dict)
    #: Columns that together could re-identify a person: their k-anonymity goes in the contract.
    quasi_identifiers: list[str] = Field(default_factory=list)


class SplitParams(_Frozen):
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 42
    stratify: bool = True
    order_by: str | None = None


class ModelParams(_Frozen):
    estimator: str = "hist_gradient_boosting"
    #: Hyperparameters per estimator (`{random_forest: {n_estimators: 300}, ...}`: switching
    #: `estimator` alone is enough), or flat: the hyperparameters of `estimator` only.
    params: dict[str, Any] = Field(default_factory=dict)
    #: `balanced`: weight classes inversely to their frequency (rare positive classes).
    class_weight: Literal["balanced"] | None = None
    #: Binary classifiers: the probability of the second class above which it is predicted.
    #: None: 0.5 (the estimator's own); a number in (0, 1); `auto`: chosen on the training split
    #: only, by 5-fold cross-validated probabilities, to maximise balanced accuracy.
    threshold: Literal["auto"] | Annotated[float, Field(gt=0.0, lt=1.0)] | None = None

    def sections(self) -> dict[str, Any]:
        """The per-estimator sections of `params` (estimator name -> its hyperparameters)."""
        return {k: v for k, v in self.params.items() if k in catalog.ESTIMATOR_NAMES}

    def per_estimator(self) -> bool:
        """Whether `params` is keyed by estimator names (not the flat form)."""
        return bool(self.sections())

    def flat(self) -> dict[str, Any]:
        """Keys of `params` that are not estimator sections: the chosen estimator's (overrides
        of its section, e.g. `--set model.params.max_iter=50` or `dvc exp run -S ...`)."""
        return {k: v for k, v in self.params.items() if k not in catalog.ESTIMATOR_NAMES}

    def active(self) -> dict[str, Any]:
        """The chosen estimator's hyperparameters: its section, with flat keys over it."""
        section = self.params.get(self.estimator)
        return {**(section if isinstance(section, dict) else {}), **self.flat()}

    def params_key(self, estimator: str | None = None) -> str:
        """Where an estimator's hyperparameters are written (`model.params[.<estimator>]`)."""
        if self.per_estimator():
            return f"model.params.{estimator or self.estimator}"
        return "model.params"


class TrainParams(_Frozen):
    """How fits and predictions run (not what they compute)."""

    #: Native threads (OpenMP/BLAS) per fit and predict; None: all cores (the libraries' default).
    n_jobs: int | None = Field(default=None, ge=1)


class Threshold(_Frozen):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs `min` or `max`")
        return self


class SliceGate(_Frozen):
    #: The largest allowed difference of the slice metric between levels of a sensitive column.
    max_gap: float = Field(gt=0.0)


class GateParams(_Frozen):
    metrics: dict[str, Threshold] = Field(default_factory=dict)
    primary: str | None = None
    max_regression: float = Field(default=0.01, ge=0.0)
    #: `auto`: relative for error metrics in the target's units (rmse, mae), absolute otherwise.
    regression_mode: Literal["absolute", "relative", "auto"] = "auto"
    #: Metrics a candidate may not regress on beyond the tolerance (None: every gated metric).
    guard: list[str] | None = None
    #: Refuse promotion when a `card.sensitive` column's slices differ too much.
    slices: SliceGate | None = None


class CardParams(_Frozen):
    """`mlops card`: what the model is for, and how its slices are reported."""

    #: Who uses the model and for what (a TODO on the card until written).
    intended_use: str | None = None
    #: Uses the model is not meant for.
    out_of_scope: str | None = None
    #: Columns whose largest slice gap is reported (and gated by `gate.slices`).
    sensitive: list[str] = Field(default_factory=list)
    #: Slices with fewer test rows are grouped into `(other)`.
    min_slice: int = Field(default=30, ge=1)
    #: Numeric features binned into quartiles: this many, the most important first.
    top_numeric: int = Field(default=3, ge=0)
    #: Permutation importance on at most this many test rows (seeded sample).
    importance_rows: int = Field(default=2000, ge=10)
    #: Bootstrap resamples for the metrics' 95% confidence intervals.
    bootstrap: int = Field(default=200, ge=20)
    #: SHAP values (mean |SHAP| per column) for tree models when the `shap` extra is installed.
    shap: bool = True
    #: SHAP values on at most this many test rows (seeded sample).
    shap_rows: int = Field(default=500, ge=10)


DriftMethod = Literal["auto", "ks", "chisquare", "psi", "jensenshannon", "wasserstein"]


class DriftParams(_Frozen):
    """`mlops drift`: per-column methods, thresholds and the dataset verdict rule."""

    current: str = "data/processed/test.parquet"
    #: Columns never compared (besides `data.drop` and identifier columns).
    exclude: list[str] = Field(default_factory=list)
    numeric_method: DriftMethod = "auto"
    categorical_method: DriftMethod = "auto"
    columns: dict[str, DriftMethod] = Field(default_factory=dict)
    #: Distance thresholds by method (psi, jensenshannon, wasserstein); p-value tests use alpha.
    thresholds: dict[str, float] = Field(default_factory=dict)
    #: Distance thresholds by column (win over `thresholds`).
    column_thresholds: dict[str, float] = Field(default_factory=dict)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Literal["bh", "bonferroni", "none"] = "bh"
    share: float = Field(default=0.5, gt=0.0, le=1.0)
    critical: list[str] = Field(default_factory=list)
    large_sample: int = Field(default=1000, ge=1)
    min_rows: int = Field(default=30, ge=1)
    #: A numeric column with at most this many distinct values is compared as categorical.
    few_unique: int = Field(default=5, ge=1)
    #: An absolute change in a column's missing-value rate at least this large is flagged.
    missing_change: float = Field(default=0.05, gt=0.0, le=1.0)
    #: Too little data to test any column (a header-only or tiny batch) fails the check
    #: (`mlops drift` exits 3) unless this is false.
    fail_on_insufficient: bool = True

    @model_validator(mode="after")
    def _known_methods(self) -> DriftParams:
        distances = ("psi", "jensenshannon", "wasserstein")
        for method, value in self.thresholds.items():
            if method not in distances:
                raise ValueError(
                    f"thresholds: {method!r} is not a distance method ({', '.join(distances)}); "
                    "p-value tests (ks, chisquare) use `alpha`"
                )
            if not value > 0:
                raise ValueError(f"thresholds: {method} must be > 0")
        for column, value in self.column_thresholds.items():
            if not value > 0:
                raise ValueError(f"column_thresholds: {column} must be > 0")
        if self.categorical_method in ("ks", "wasserstein"):
            raise ValueError(
                f"categorical_method: {self.categorical_method} needs numbers "
                "(use auto, chisquare, psi or jensenshannon)"
            )
        return self


SpaceType = Literal["int", "float", "log", "categorical"]


class SpaceSpec(_Frozen):
    """One hyperparameter's search range: `int`/`float` in [low, high] (`step` optional), `log`
    (a float sampled log-uniformly in [low, high], low > 0) or `categorical` (one of `choices`)."""

    type: SpaceType
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: list[Any] | None = None


class TuneParams(_Frozen):
    """`mlops tune`: the search space and the budget (Optuna TPE, median pruner over CV folds)."""

    #: Search spaces per estimator (`{hist_gradient_boosting: {learning_rate: {...}}}`); the
    #: section of `model.estimator` is searched, over its `model.params`.
    space: dict[str, dict[str, SpaceSpec]] = Field(default_factory=dict)
    #: Trials wanted in the study in all (finished trials of a resumed study count).
    trials: int = Field(default=20, ge=1)
    #: Seconds this run may start trials for (None: no limit).
    timeout: float | None = Field(default=None, gt=0.0)
    #: Folds of the cross-validation on the training split that scores a trial.
    cv: int = Field(default=5, ge=2)
    #: The metric optimised (None: `gate.primary`, else the task's default primary metric).
    metric: str | None = None
    #: Seed of the sampler and the folds (None: `split.seed`).
    seed: int | None = None
    #: `median`: stop a trial whose fold scores fall below the median of earlier trials.
    pruner: Literal["median", "none"] = "median"


class Params(_Frozen):
    """Everything in `params.yaml`: what DVC tracks per key."""

    data: DataParams = Field(default_factory=DataParams)
    split: SplitParams = Field(default_factory=SplitParams)
    model: ModelParams = Field(default_factory=ModelParams)
    train: TrainParams = Field(default_factory=TrainParams)
    gate: GateParams = Field(default_factory=GateParams)
    drift: DriftParams = Field(default_factory=DriftParams)
    card: CardParams = Field(default_factory=CardParams)
    tune: TuneParams = Field(default_factory=TuneParams)
