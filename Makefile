# Two commands for a newcomer: `make run` and `make test`. Both create the virtual environment themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f 2>/dev/null) \
               dbt_project/dbt_project.yml dbt_project/profiles.yml
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# The data directory, absolute, as the Dagster dbt asset hands it to dbt (the var data_dir): `dbt parse` gets the same
# var, so every dbt step of a run can reuse its partial parse.
export AI_USAGE_DATA_DIR ?= $(CURDIR)/data
export PYTHONPATH := $(CURDIR)
# dagster dev starts processes of its own: they find dbt in the venv through PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup dagster-home run test test-unit test-slow test-spark dev benchmark lint clean catalog

setup: $(INSTALLED) $(MANIFEST) dagster-home

# One Dagster instance for every command of the project (make run, make dev, the sensor, the README's CLI recipes):
# `.dagster_home`. make exports DAGSTER_HOME; `python -m dagster_project.run` defaults to it; Dagster's own CLI
# (`dagster dev`, `dagster asset materialize`) reads `.env` in the folder it runs from, which this writes (an
# absolute path, as Dagster requires; other lines of .env are kept).
dagster-home:
	@line='DAGSTER_HOME=$(CURDIR)/.dagster_home'; grep -qxF "$$line" .env 2>/dev/null || { \
	  { grep -v '^DAGSTER_HOME=' .env 2>/dev/null || true; echo "$$line"; } > .env.tmp && mv .env.tmp .env; }

# uv installs the stack in seconds (pip takes about a minute); it comes from PyPI into the venv itself.
# --compile-bytecode: every process (Dagster, dbt, landing) then starts from .pyc files instead of compiling its
# imports each time (Dagster's start: 6.1 -> 3.8 CPU s here, where PYTHONDONTWRITEBYTECODE=1 stops Python caching).
$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || { $(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --default-pip >/dev/null; \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check uv; }
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	@touch $@

# dagster-dbt reads the dbt manifest when the definitions load. A full parse (about 3 CPU s more, only when a dbt file
# changed): dbt 1.11's partial parse of a changed singular test can drop the test's description from the manifest
# (the Dagster check's description); the runs then reuse this parse's state.
$(MANIFEST): $(INSTALLED) $(DBT_SOURCES)
	cd dbt_project && ../$(BIN)/dbt parse --no-partial-parse --quiet --profiles-dir . --vars '{"data_dir": "$(AI_USAGE_DATA_DIR)"}'
	@touch $@

## make run: sample data if the drop zone is empty, materialize every asset, print a summary.
run: setup
	$(BIN)/python -m ingest.sample --if-empty
	$(BIN)/python -m dagster_project.run
	$(BIN)/python -m dagster_project.summary

## make test: lint, then the test suite (pytest runs the dbt unit and data tests too), all but the slow scenarios.
test: setup
	$(BIN)/ruff check ingest dagster_project tests
	$(BIN)/python -m pytest -m "not slow"

## make test-unit: the fast set, under a minute: tests/unit (pure Python: no dbt build, no Dagster run), not slow.
test-unit: setup
	$(BIN)/python -m pytest tests/unit -m "not slow"

## make test-slow: the end-to-end scenarios of a minute or more each (CI runs them after make test).
test-slow: setup
	$(BIN)/python -m pytest -m slow

## make test-spark: the same dbt project on Apache Spark (in this process, pyspark), compared with DuckDB mart by mart
## (tests/spark; README "Running on Spark"). Installs Java 17 from Debian if missing, and a separate venv .venv-spark.
SPARK_VENV := .venv-spark
SPARK_INSTALLED := $(SPARK_VENV)/.installed
SPARK_PACKAGES := 'pyspark>=4.3,<5' 'dbt-core>=1.11,<1.12' 'dbt-spark[session]>=1.11,<1.12' 'dbt-duckdb>=1.11,<1.12' \
                  'pytest>=8' 'pyarrow>=15'
JAVA_HOME_17 := /usr/lib/jvm/java-17-openjdk-$(shell dpkg --print-architecture 2>/dev/null || echo amd64)

$(SPARK_INSTALLED): $(INSTALLED) Makefile
	@test -x $(JAVA_HOME_17)/bin/java || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	@test -x $(SPARK_VENV)/bin/python || $(PYTHON) -m venv $(SPARK_VENV)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(SPARK_VENV)/bin/python $(SPARK_PACKAGES)
	@touch $@

test-spark: setup $(SPARK_INSTALLED)
	JAVA_HOME=$(JAVA_HOME_17) TZ=UTC $(SPARK_VENV)/bin/python -m pytest --confcutdir tests/spark tests/spark -p no:cacheprovider

## make dev: the Dagster UI on http://127.0.0.1:3000 (ARGS="--port 3001"); Ctrl-C or SIGTERM stops all of it
dev: setup
	$(BIN)/python -m dagster_project.dev $(ARGS)

## make benchmark: the project against one DuckDB script, polars and pandas (1M requests; ARGS="--requests 5000000")
benchmark: setup
	$(BIN)/python -m tests.benchmarks.run $(ARGS)

## make catalog: regenerate the catalog seeds from the pinned genai-prices and the overrides; prints what changed.
catalog: $(INSTALLED)
	$(BIN)/python -m ingest.catalog

lint: setup
	$(BIN)/ruff check ingest dagster_project tests

clean:
	rm -rf $(VENV) $(SPARK_VENV) dbt_project/target dbt_project/logs
