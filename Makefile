# cardportal: `make up` runs the platform, `make test` runs every check.
# Both create .venv on first use (uv, from uv.lock) and reuse it afterwards.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: up test lint format typecheck pytest install clean-venv web web-openapi web-check chromium redis-server bench dbt-parse

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

# Reinstalled only when the project's metadata or lockfile changes.
$(STAMP): pyproject.toml uv.lock | $(BIN)/uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --inexact --extra dev --quiet
	touch $(STAMP)

install: $(STAMP)

# The customer web app (web/): npm ci when the lockfile changes, a build when its
# sources change; the API serves web/dist at /app.
WEB_NODE := web/node_modules/.package-lock.json
WEB_BUILD := web/dist/index.html
WEB_SOURCES := $(shell find web/src -type f ! -name '*.test.ts' ! -name '*.test.tsx' ! -path 'web/src/test/*' 2>/dev/null) \
	web/index.html web/package.json web/package-lock.json web/tsconfig.json web/vite.config.ts web/openapi.json

$(WEB_NODE): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_BUILD): $(WEB_NODE) $(WEB_SOURCES)
	cd web && npm run build

web: $(WEB_BUILD)

# Regenerate the API's schema (no server needed) and the web app's typed client.
web-openapi: $(STAMP) $(WEB_NODE)
	$(BIN)/python -m cardportal.openapi web/openapi.json
	cd web && npm run openapi

# ESLint (typescript-eslint, react-hooks, jsx-a11y), tsc --noEmit, then Vitest.
web-check: $(WEB_NODE)
	cd web && npm run lint && npm run typecheck && npm test

# Debian's Chromium for the browser tests (Playwright's own download does not work here).
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# Debian's Redis for the shared rate-limit tests (each test starts its own on a free loopback port).
redis-server:
	@command -v redis-server >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server)

# dagster-dbt reads dbt's manifest when the code location is imported: parse first.
dbt-parse: $(STAMP)
	cd dbt && ../$(BIN)/dbt parse --quiet --project-dir . --profiles-dir .

up: $(STAMP) web dbt-parse
	$(BIN)/cardportal up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

pytest: $(STAMP) web chromium redis-server dbt-parse
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint web-check pytest

# Benchmarks (bench/README.md): ratios against baselines measured in the same run.
# `make bench QUICK=1` runs short repetitions on small data (a few minutes).
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

clean-venv:
	rm -rf $(VENV)
