# Every target installs what it needs into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: serving needs only the runtime dependencies; tests and benchmarks the rest.
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
# make run RUN_ARGS="--port 8090 --store redis://127.0.0.1:6379/0"
RUN_ARGS ?=

.PHONY: install run test test-fast lint format typecheck bench clean

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/doccount serve $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/ruff check server tests $(wildcard bench)
	$(BIN)/ruff format --check server tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The edit-test loop: everything but the browser and whole-process tiers, four at a time (the
# tier mostly waits on bounded timeouts and sockets, so it overlaps well even on 2 cores; every
# test takes its own ports, files and redis-server). `make test` stays one at a time.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 4 -m "not browser and not procs"

lint: $(STAMP)
	$(BIN)/ruff check server tests $(wildcard bench)
	$(BIN)/ruff format --check server tests $(wildcard bench)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format server tests $(wildcard bench)
	$(BIN)/ruff check --fix server tests $(wildcard bench)

# make bench BENCH_ARGS="--quick" (or "fanout --quick", ...). The polling benchmark needs wrk.
bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y -q wrk || echo "no wrk: polling is skipped"
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
