# SignalBridge: `make run` starts the platform, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The parser compiled by mypyc (tools/compile_parser.py); rebuilt when a source changes
COMPILED := src/signalbridge/parsing/compiled.json
PARSER_SOURCES := $(wildcard src/signalbridge/parsing/*.py src/signalbridge/parsing/*.c)

.PHONY: run test lint typecheck pytest bench lock clean compile

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## compile: build the parser's C extensions with mypyc (needs gcc; the sources run without it)
compile: $(COMPILED)

$(COMPILED): $(STAMP) $(PARSER_SOURCES) tools/compile_parser.py
	$(BIN)/python tools/compile_parser.py

## run: install, migrate and start the embedded platform (SQLite, in-process queue) with demo data
run: $(STAMP) $(COMPILED)
	$(BIN)/signalbridge migrate
	$(BIN)/signalbridge serve --demo

## test: ruff (lint and format), the import-linter layer contracts, mypy, and the whole
## pytest suite on SQLite and PostgreSQL
# The checks and the parser's compile are independent and mostly single-threaded: they
# run side by side, then the suite runs on the compiled parser.
test: $(STAMP)
	$(MAKE) --no-print-directory -j3 lint typecheck compile
	$(MAKE) --no-print-directory pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# two worker processes (pytest-xdist): every test has its own database, ports and keys
# (three were no faster on two cores and made timing-bound tests flaky)
PYTEST_WORKERS ?= 2
pytest: $(STAMP) $(COMPILED)
	$(BIN)/pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --durations=25

## bench: every benchmark in bench/ (prints figures beside their in-run baselines)
bench: $(STAMP) $(COMPILED)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

## lock: re-pin every dependency after changing pyproject.toml
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^signalbridge' > requirements.lock

clean:
	-$(BIN)/python tools/compile_parser.py --clean
	rm -rf $(VENV) build data .mypy_cache .ruff_cache .pytest_cache
