# Two commands on a fresh machine with Python 3.11+ (and Node.js for the NHS.UK styles):
#   make run    set up, migrate the SQLite database, load demo data, serve on :5000
#   make test   set up and run the whole test suite (SQLite, then a throwaway PostgreSQL)
PYTHON ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
export PORT

.PHONY: setup run test lint clean load faults

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Buddy needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the NHS.UK frontend styles: install Node.js"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/buddy init-db
	$(BIN)/buddy demo --if-empty
	@# The one scheduler process (dispatch every minute) beside the web server; it stops
	@# when the server does.
	$(BIN)/buddy scheduler & SCHEDULER=$$!; \
	trap 'kill $$SCHEDULER 2>/dev/null; wait $$SCHEDULER 2>/dev/null' EXIT INT TERM; \
	$(BIN)/buddy serve --port $(PORT)

test: setup
	$(BIN)/ruff check buddy matching tests migrations
	$(BIN)/pytest
	$(BIN)/pytest --db postgresql -m "not browser" --ignore=tests/matching

# Slow checks on demand; their last figures are in the README.
load: setup
	$(BIN)/python -m tests.perf.load --pace peak --users 200 --seconds 300
	$(BIN)/python -m tests.perf.load --pace stress --users 200 --seconds 120

faults: setup
	$(BIN)/python -m tests.perf.faults

lint: setup
	$(BIN)/ruff check buddy matching tests migrations

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
