# Two commands on a fresh machine with Python 3.11+ (and Node.js for the NHS.UK styles):
#   make run    set up, migrate the SQLite database, load demo data, serve on :5000
#   make test   set up and run the whole test suite (SQLite, then a throwaway PostgreSQL)
# Python packages come from the lock files, pinned with hashes: requirements.lock (what the
# app runs on) and requirements-test.lock (that, plus the test tools). `make lock` writes
# them from pyproject.toml.
PYTHON ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
PIP_COMPILE := $(BIN)/pip-compile --quiet --strip-extras --generate-hashes \
	--no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)
export PORT

.PHONY: setup production-setup system-deps run test lint lock clean load faults

setup: $(VENV)/.installed node_modules/.installed

# A new lock file rebuilds the environment from scratch, so that it holds exactly the lock.
$(VENV)/.installed: requirements-test.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Buddy needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-test.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Production (DEPLOYMENT.md): the runtime lock only, no test tools.
production-setup: $(VENV)/.installed-runtime node_modules/.installed

$(VENV)/.installed-runtime: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Buddy needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the NHS.UK frontend styles: install Node.js"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# After a change to the dependencies in pyproject.toml: `make lock` keeps every pin it can;
# `make lock UPGRADE=1` moves everything to the newest allowed versions.
lock:
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) --extra test --output-file requirements-test.lock pyproject.toml

# PostgreSQL's server binaries, Chromium and its fonts, npm: installed with apt-get where it
# can, otherwise a message that says what to install.
system-deps:
	bash .ci/system-deps

run: setup
	$(BIN)/buddy init-db
	$(BIN)/buddy demo --if-empty
	@# The one scheduler process (dispatch every minute) beside the web server; it stops
	@# when the server does.
	$(BIN)/buddy scheduler & SCHEDULER=$$!; \
	trap 'kill $$SCHEDULER 2>/dev/null; wait $$SCHEDULER 2>/dev/null' EXIT INT TERM; \
	$(BIN)/buddy serve --port $(PORT)

test: system-deps setup
	$(BIN)/ruff check buddy matching tests migrations
	$(BIN)/pytest
	$(BIN)/pytest --db postgresql -m "not browser" --ignore=tests/matching

# Slow checks on demand; their figures are in docs/benchmarks.md (the latest in the README).
load: setup
	$(BIN)/python -m tests.perf.load --pace peak --users 200 --seconds 300
	$(BIN)/python -m tests.perf.load --pace stress --users 200 --seconds 120

faults: setup
	$(BIN)/python -m tests.perf.faults

lint: setup
	$(BIN)/ruff check buddy matching tests migrations

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
