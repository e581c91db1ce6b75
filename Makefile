# SignalBridge: `make run` starts the platform, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## run: install, migrate and start the embedded platform (SQLite, in-process queue) with demo data
run: $(STAMP)
	$(BIN)/signalbridge migrate
	$(BIN)/signalbridge serve --demo

## test: ruff (lint and format), mypy, and the whole pytest suite on SQLite and PostgreSQL
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

## bench: every benchmark in bench/ (prints figures beside their in-run baselines)
bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

## lock: re-pin every dependency after changing pyproject.toml
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^signalbridge' > requirements.lock

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
