# Every target installs what it needs into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint format typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m server serve

test: $(STAMP)
	$(BIN)/ruff check server tests $(wildcard bench)
	$(BIN)/ruff format --check server tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The edit-test loop: everything but the browser and whole-process tiers.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser and not procs"

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
