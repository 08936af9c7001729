# The single entry point: install, run, test, lint, format, typecheck.
# Needs only Python >= 3.11; everything else is installed into .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PKGS   := contactcenter routing channels agent_console

.PHONY: install run test test-fast lint format typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the hub with its development tools

run: $(STAMP) ## start the hub (embedded Redis and PostgreSQL unless REDIS_URL / DATABASE_URL are set)
	$(BIN)/contactcenter serve --demo-data

test: $(STAMP) ## the whole test suite (browser tests skip when no Chromium is installed)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) ## unit tests only: no servers needed
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP) ## ruff lint
	$(BIN)/ruff check $(PKGS) tests bench

format: $(STAMP) ## ruff format in place
	$(BIN)/ruff format $(PKGS) tests bench
	$(BIN)/ruff check --fix --select I $(PKGS) tests bench

typecheck: $(STAMP) ## mypy --strict on the four packages
	$(BIN)/mypy

bench: $(STAMP) ## benchmarks (print figures beside a baseline; never fail on timing)
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.routing
	$(BIN)/python -m bench.context
	$(BIN)/python -m bench.crm
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.faults

clean: ## remove the virtual environment and caches (not the data folder)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
