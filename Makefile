# cardportal: `make up` runs the platform, `make test` runs every check.
# Both create .venv on first use (uv, from uv.lock) and reuse it afterwards.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: up test lint format typecheck pytest install clean-venv dbt-parse

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

# Reinstalled only when the project's metadata or lockfile changes.
$(STAMP): pyproject.toml uv.lock | $(BIN)/uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --inexact --extra dev --quiet
	touch $(STAMP)

install: $(STAMP)

# dagster-dbt reads dbt's manifest when the code location is imported: parse first.
dbt-parse: $(STAMP)
	cd dbt && ../$(BIN)/dbt parse --quiet --project-dir . --profiles-dir .

up: $(STAMP) dbt-parse
	$(BIN)/cardportal up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

pytest: $(STAMP) dbt-parse
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint pytest

clean-venv:
	rm -rf $(VENV)
