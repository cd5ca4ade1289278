# One target per habit. `make test` is what CI runs (.ci/run); `make demo` shows the whole flow.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# PostgreSQL-backed store tests run when this URL answers and skip cleanly when it does not.
export C2C_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install test demo bench bench-backlog lint fmt up clean schemas history reconcile chaos

# uv (from PyPI) installs what pyproject.toml asks for in half pip's time (19 s against 36 s from a fresh clone here,
# and CI installs from a fresh clone each time); bytecode is written on first import.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The suite on TEST_WORKERS processes (pytest-xdist): each has its own Temporal dev server, time-skipping server and
# emulators. The slowest tests go first (tests/conftest.py, SLOW_FIRST) and idle workers take queued tests from busy
# ones (--dist worksteal), so no worker is left with a queue behind one long test at the end. 4 workers: the suite
# keeps both cores busy with 4 (6 measured slower). Lint runs beside the suite (its report is printed after it):
# both must pass.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (this machine sets it): without it every xdist worker,
# `worker.py` and CLI process compiled the same libraries again (16 s of CPU to collect the suite instead of 6). One
# import first writes the shared libraries' bytecode, so the workers starting together do not all compile it.
TEST_WORKERS ?= 4
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP)
	@$(BIN)/python -c "import tests.conftest"
	@$(MAKE) --no-print-directory lint > $(VENV)/lint.log 2>&1 & lint=$$!; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal; tests=$$?; \
	wait $$lint; linted=$$?; cat $(VENV)/lint.log; \
	if [ $$linted -ne 0 ]; then echo "make lint failed"; fi; \
	[ $$tests -eq 0 ] && [ $$linted -eq 0 ]

demo: $(STAMP)
	$(BIN)/python -m demo

up: $(STAMP)
	$(BIN)/python -m demo --serve

bench: $(STAMP)
	$(BIN)/python -m bench

# The issue's month-end backlog alone (docs/benchmarks.md): BACKLOG renewals due at one instant, drained under the
# vendors' limits. 10,000 took 84 min of drain at bench/backlog.py LIMITS plus 43 min of setup; `make bench` runs 50.
# The workers keep WORKFLOW_CACHE lifecycles in memory (C2C_WORKFLOW_CACHE): 500 held the 10,000 run under 500 MB.
BACKLOG ?= 10000
WORKFLOW_CACHE ?= 500
bench-backlog: $(STAMP)
	C2C_WORKFLOW_CACHE=$(WORKFLOW_CACHE) $(BIN)/python -m bench --sagas 0 --rates '' --scale '' --backlog $(BACKLOG)

# 200 deals with faults on every vendor call, the worker SIGKILLed and Temporal restarted; then every system
# is counted (docs/chaos.md). SEED makes a run reproducible.
SEED ?= 42
chaos: $(STAMP)
	$(BIN)/python -m chaos --deals 200 --seed $(SEED)

# Against the running estate (`make up`): every system compared, KPIs, JSON + HTML report in var/.
reconcile: $(STAMP)
	$(BIN)/python -m reconcile run --json var/reconciliation.json --html var/reconciliation.html

# mypy keeps its cache beside pip's and uv's, not in the clone: CI lints a fresh clone each time, and a cold mypy took
# 16–20 s of CPU beside the suite; the cache is checked by file hash, so a changed module is still checked again.
MYPY_CACHE ?= $(HOME)/.cache/c2c/mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --cache-dir $(MYPY_CACHE) .
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
