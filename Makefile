# Akhbar's two set-up commands are `make run` and `make test`; `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV_VERSION := 0.13.9
UV := $(TOOLS)/bin/uv
INSTALLED := $(VENV)/.installed
RUN_ARGS ?= --archive examples/saudinewsnet-sample.jsonl
BENCH_DATA ?= ../shared/data/saudinewsnet

.DEFAULT_GOAL := help
.PHONY: help env run test test-unit services-up services-down lint format lock bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(INSTALLED): requirements.lock pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(VENV)/bin/python --require-hashes requirements.lock
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps -e .
	touch $@

env: $(INSTALLED) ## Create the Python environment from the hash-locked requirements

run: env ## Run the whole pipeline on the embedded bus (Ctrl-C stops it cleanly)
	$(VENV)/bin/akhbar run $(RUN_ARGS)

test: env ## Start Kafka and OpenSearch, run the whole test suite, stop them
	scripts/services up
	scripts/test-tools
	set -a; eval "$$(scripts/services env)"; set +a; \
	$(VENV)/bin/python -m pytest; status=$$?; \
	scripts/services down; exit $$status

test-unit: env ## Run the tests against the services already up (or skip those that need them)
	set -a; eval "$$(scripts/services env)"; set +a; $(VENV)/bin/python -m pytest

services-up: ## Start the Kafka broker and the OpenSearch node used by the tests
	scripts/services up

services-down: ## Stop them
	scripts/services down

lint: env ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: env ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock: | $(UV) ## Re-lock the dependencies by hash (no index address is written)
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--quiet -o requirements.lock

bench: env ## Every benchmark, one table, each figure beside its anchor (BENCH_ARGS=--quick)
	scripts/services up
	set -a; eval "$$(scripts/services env)"; set +a; \
	$(VENV)/bin/python -m benchmarks $(BENCH_DATA) $(BENCH_ARGS)

clean: ## Remove the environments and local data
	rm -rf $(VENV) $(TOOLS) data
