# The run book's commands. Each target sets itself up when needed (fresh clone -> working venv).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export LAKEHOUSE_ROOT ?= $(CURDIR)/data
export PYTHONUNBUFFERED := 1
# Model hubs are unreachable: everything loads from installed packages or configured paths.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help setup demo test ui bench evaluate dbt-parse browser clean

help:
	@echo "make demo   set up if needed, generate sample data, materialize every asset, print a summary"
	@echo "make test   set up if needed, run the whole test suite"
	@echo "make ui     the Dagster UI on http://127.0.0.1:3000 (dagster dev -w workspace.yaml)"
	@echo "make bench  speed / memory benchmarks of the applications"
	@echo "make evaluate  quality of the applications on the real data in ../shared/data"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# The dbt manifest Dagster reads to build the dbt assets (dbt parse never runs at import time).
dbt-parse: $(STAMP)
	@$(BIN)/dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml dbt-parse

# Headless Chromium for the browser tests (Debian packages). Installed when missing and we are root.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium + chromium-driver (apt) for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium not installed and not root: browser tests will be skipped"; fi; \
	fi

demo: setup
	$(BIN)/fmlake demo

test: setup browser
	$(BIN)/python -m pytest

ui: setup
	$(BIN)/dagster dev -w workspace.yaml

bench: setup
	$(BIN)/python -m pipelines.bench bench

evaluate: setup
	$(BIN)/python -m pipelines.bench evaluate

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
