# Entry points for developers and CI. Everything real lives in scripts/; see `make help`.
# Pass pytest arguments with ARGS, e.g. make test ARGS="tests/unit -k packaging".

SHELL := /bin/bash
VENV := .venv
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup test demo chaos verify-capture bench lint clean

help: ## Show this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Create .venv, install deps, fetch connector jars, build FerretDB if needed
	bash scripts/setup.sh

test: ## Run pytest (after setup); pass pytest arguments with ARGS="..."
	bash scripts/test.sh $(ARGS)

demo: setup ## Run the end-to-end demo (simulator -> raw -> Spark -> star schema)
	bash scripts/demo.sh

chaos: setup ## Crash the ETL repeatedly (kills, DB restart, API outage); print one JSON line
	GENESYS_ETL_JARS="$${GENESYS_ETL_JARS:-$${GENESYS_ETL_CACHE:-$$HOME/.cache/genesys-etl}/jars}" \
		$(VENV)/bin/python -m scripts.chaos

verify-capture: setup ## Capture a realistic night with faults; check fact_call against the truth
	GENESYS_ETL_JARS="$${GENESYS_ETL_JARS:-$${GENESYS_ETL_CACHE:-$$HOME/.cache/genesys-etl}/jars}" \
		$(VENV)/bin/python -m scripts.verify_capture

bench: setup ## Benchmarks (BENCH_SCALE=full|small); write bench/results.json, docs/benchmarks.md
	GENESYS_ETL_JARS="$${GENESYS_ETL_JARS:-$${GENESYS_ETL_CACHE:-$$HOME/.cache/genesys-etl}/jars}" \
		$(VENV)/bin/python -m bench

lint: setup ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean: ## Remove .venv, .run and dist (the jar/FerretDB cache in ~/.cache stays)
	rm -rf $(VENV) .run dist
