# One target per habit. `make test` is what CI runs (.ci/run); `make demo` shows the whole flow.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# PostgreSQL-backed store tests run when this URL answers and skip cleanly when it does not.
export C2C_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install test demo bench lint fmt up clean schemas history reconcile chaos

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Lint first (seconds), then the suite on TEST_WORKERS processes (pytest-xdist): each has its own Temporal dev
# server, time-skipping server and emulators, and the tests wait on servers far more than they compute (the suite
# uses about one of the two cores), so 6 workers beat 4 on a 2-core machine. The slowest tests go first
# (tests/conftest.py, SLOW_FIRST) and idle workers take queued tests from busy ones (--dist worksteal), so no
# worker is left with a queue behind one long test at the end.
TEST_WORKERS ?= 6
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

demo: $(STAMP)
	$(BIN)/python -m demo

up: $(STAMP)
	$(BIN)/python -m demo --serve

bench: $(STAMP)
	$(BIN)/python -m bench

# 200 deals with faults on every vendor call, the worker SIGKILLed and Temporal restarted; then every system
# is counted (docs/chaos.md). SEED makes a run reproducible.
SEED ?= 42
chaos: $(STAMP)
	$(BIN)/python -m chaos --deals 200 --seed $(SEED)

# Against the running estate (`make up`): every system compared, KPIs, JSON + HTML report in var/.
reconcile: $(STAMP)
	$(BIN)/python -m reconcile run --json var/reconciliation.json --html var/reconciliation.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: $(STAMP)
	$(BIN)/python -m canonical.schemas

history: $(STAMP)
	$(BIN)/python -m tests.workflows.record_history

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
