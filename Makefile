# The commands the README shows. Everything installs into .venv from the package registries.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 10000
SEED ?= 42
PORT ?= 3000
export DO_NOT_TRACK := 1

.PHONY: install manifest postgres chromium demo test ui report bench evaluate lint format clean
BENCH_SCALES ?= 10000 100000 1000000

# Compiled at install: where PYTHONDONTWRITEBYTECODE is set, every dbt, Dagster and nextsale
# start would otherwise compile its imports again (about 4 s each).
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# make lint's SQL tools (sqlfluff, dbt-bouncer): a virtual environment of their own, from the
# sql-lint group in pyproject.toml.
SQL_LINT := $(VENV)/sql-lint
$(SQL_LINT)/.installed: pyproject.toml $(VENV)/.installed
	@test -x $(SQL_LINT)/bin/python || $(BIN)/uv venv --quiet --python $(PYTHON) $(SQL_LINT)
	$(BIN)/uv pip install --quiet --python $(SQL_LINT)/bin/python --group pyproject.toml:sql-lint
	@touch $@

# dagster-dbt reads dbt's manifest when the definitions are imported: build it first, with the
# target and vars the runs use (dagster_project/dbt.py), so that their dbt parses only changes.
manifest: install
	@$(BIN)/python -m dagster_project.dbt

# Every asset, the syncs as dry runs even with vendor tokens set: sample people must never reach
# a real CRM, and the sync assets' pages in the UI then show what would have been sent.
demo: manifest
	$(BIN)/nextsale generate --customers $(CUSTOMERS) --seed $(SEED)
	@$(BIN)/nextsale materialize --dry-run-syncs
	@$(BIN)/nextsale summary
	@$(BIN)/nextsale report
	@echo "Open the report in a browser; \`make ui\` serves the Dagster UI on http://127.0.0.1:$(PORT)"

# The Postgres target's tests start their own throwaway server on 127.0.0.1 from Debian's
# postgresql package: install it where it is missing (root, or sudo).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "Installing PostgreSQL from Debian's packages..."; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postgresql >/dev/null; }

# The report's browser test opens it in a real headless chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing chromium from Debian's packages..."; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-dejavu-core >/dev/null; }

test: manifest postgres chromium
	$(BIN)/pytest

report: install
	$(BIN)/nextsale report

ui: manifest
	$(BIN)/python -m dagster_project.serve $(PORT)

# The models against their baselines on the real data sets; writes docs/evaluation.md.
evaluate: manifest
	$(BIN)/nextsale evaluate --json data/evaluation.json

# BENCH_DUCKDB_MEMORY_LIMIT=10GB caps DuckDB in every stage (unset: nextsale's default, 6 GiB
# or half the RAM). At 1M customers a 5.6 GiB cap fails, in int_identity__lines_by_cutoff.
BENCH_DUCKDB_MEMORY_LIMIT ?=
bench: manifest
	NEXTSALE_DUCKDB_MEMORY_LIMIT=$(BENCH_DUCKDB_MEMORY_LIMIT) $(BIN)/python bench/run.py $(BENCH_SCALES)
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/report.py

# The habits of the code, cheapest first: ruff; mypy on the annotated functions ([tool.mypy]);
# sqlfluff over the dbt project with dbt's templater (.sqlfluff; it compiles against an empty
# DuckDB file under target/); dbt-bouncer's checks of the project's conventions on the manifest
# (dbt_project/dbt-bouncer.yml); Dagster's own check that every definition loads (dg reads
# [tool.dg] in pyproject.toml; VIRTUAL_ENV tells it the project's .venv is the one to use).
lint: manifest $(SQL_LINT)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/mypy
	NEXTSALE_DUCKDB_PATH=$(abspath dbt_project/target/sqlfluff.duckdb) $(SQL_LINT)/bin/sqlfluff \
		lint dbt_project/models dbt_project/tests
	cd dbt_project && ../$(SQL_LINT)/bin/dbt-bouncer run --config-file dbt-bouncer.yml
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf data dbt_project/target dbt_project/logs
