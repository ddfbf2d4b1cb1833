# session-service: every target installs what it needs, so any of them works as the very first
# command on a fresh clone. The virtualenv lives in .venv/ and is reinstalled when
# pyproject.toml changes (the stamp files below are older than it then). `make run` needs only
# the `demo` extra (uvicorn, python-multipart); `make run-fastapi` the `fastapi` extra;
# `make cli` the `redis` and `encryption` extras; `make docs` the `docs` extra; the test suite
# and mypy also cover benchmarks/ (its harness is tested, its code type-checked), the docs
# build and the wheel, so test, lint and bench install `dev`, `bench`, `docs` and `release`.
#
#   make run               the demo app on http://127.0.0.1:8000 (embedded SQLite)
#   make run-fastapi       the FastAPI example on http://127.0.0.1:8001 (./.session-data-fastapi)
#   make cli ARGS="stats"  the session-service command line (.venv/bin/session-service)
#   make test              the whole test suite (PostgreSQL tests: see test.session.all)
#   make lint              ruff check, ruff format --check, mypy (strict)
#   make docs              the documentation site into site/ (mkdocs build --strict)
#   make docs-serve        the same, served with live reload on http://127.0.0.1:8002
#   make dist              the wheel and the sdist into dist/, checked with twine
#   make test.deps.up      PostgreSQL (127.0.0.1:54320) and Redis (127.0.0.1:63790) for tests
#                          (Docker, else a local cluster and a local redis-server)
#   make test.deps.down    stop it and delete its data
#   make test.session.all  up, the whole suite against it (PostgreSQL required), down
#   make bench / bench-quick / soak   the benchmarks

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
FASTAPI_PORT ?= 8001
# Arguments for `make cli`, e.g. `make cli ARGS="clear-user alice --tenant acme"`.
ARGS ?= --help
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k clear -x"`.
PYTEST_ARGS ?=
BENCH_ARGS ?=
TEST_PG_URL := postgresql://session_test:session_test@127.0.0.1:54320/sessions
TEST_REDIS_URL := redis://127.0.0.1:63790/0

DEMO_STAMP := $(VENV)/.installed-demo
DOCS_STAMP := $(VENV)/.installed-docs
FASTAPI_STAMP := $(VENV)/.installed-fastapi
CLI_STAMP := $(VENV)/.installed-cli
DEV_STAMP := $(VENV)/.installed-dev
ALL_STAMP := $(VENV)/.installed-all
DOCS_PORT ?= 8002
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off
# Two makes installing into one .venv at once break each other; flock (util-linux) serializes
# them where it exists.
FLOCK := $(shell command -v flock 2>/dev/null)
LOCKED := $(if $(FLOCK),$(FLOCK) $(VENV)/.install.lock,)

.DEFAULT_GOAL := help

.PHONY: help install install-dev run run-fastapi cli test lint docs docs-serve dist test.deps.up \
	test.deps.down test.session.all bench bench-quick soak clean pgbouncer chromium

help:
	@echo "make run               demo app on http://$(HOST):$(PORT) (embedded SQLite)"
	@echo "make run-fastapi       the FastAPI example on http://$(HOST):$(FASTAPI_PORT) (own data dir)"
	@echo "make cli ARGS=\"stats\"  the session-service command line, e.g. ARGS=\"clear-user alice\""
	@echo "make test              the whole test suite"
	@echo "make lint              ruff check, ruff format --check, mypy --strict"
	@echo "make docs              the documentation site into site/ (mkdocs build --strict)"
	@echo "make docs-serve        the documentation on http://$(HOST):$(DOCS_PORT), live reload"
	@echo "make dist              wheel and sdist into dist/ (python -m build), twine check"
	@echo "make test.deps.up      PostgreSQL at $(TEST_PG_URL) and Redis at $(TEST_REDIS_URL) for tests"
	@echo "make test.deps.down    stop it and delete its data"
	@echo "make test.session.all  up, the whole suite with PostgreSQL required, down"
	@echo "make bench | bench-quick | soak   the benchmarks"
	@echo "make install           just create .venv and install the package with every extra make test needs"
	@echo "make install-dev       the same with the dev extra only, and Chromium"
	@echo "make clean             remove .venv and caches"

# -- the virtualenv ------------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Each stamp says which extras are installed; a wider install touches the narrower stamps
# (dev holds the packages of demo, fastapi and cli; the full install holds all of them).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(LOCKED) $(PIP_INSTALL) -e '.[demo]'
	@touch $@

$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(LOCKED) $(PIP_INSTALL) -e '.[docs]'
	@touch $@

$(FASTAPI_STAMP): pyproject.toml | $(BIN)/python
	$(LOCKED) $(PIP_INSTALL) -e '.[fastapi]'
	@touch $@

# The command line reaches every store kind and reencrypts: the redis and encryption extras.
$(CLI_STAMP): pyproject.toml | $(BIN)/python
	$(LOCKED) $(PIP_INSTALL) -e '.[redis,encryption]'
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(LOCKED) $(PIP_INSTALL) -e '.[dev]'
	@touch $@ $(DEMO_STAMP) $(FASTAPI_STAMP) $(CLI_STAMP)

$(ALL_STAMP): pyproject.toml | $(BIN)/python
	$(LOCKED) $(PIP_INSTALL) -e '.[dev,bench,docs,release]'
	@touch $@ $(DEV_STAMP) $(DEMO_STAMP) $(DOCS_STAMP) $(FASTAPI_STAMP) $(CLI_STAMP)

install: $(ALL_STAMP)

install-dev: $(DEV_STAMP) pgbouncer chromium

# PgBouncer for the pooler tests: apt-get install when missing (root), else it says how.
pgbouncer:
	@bash scripts/ensure-pgbouncer.sh

# The browser tests drive Debian's Chromium by path (never a browser downloaded by Playwright):
# installed with apt-get when missing (root only; otherwise those tests skip, saying why).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "note: no Chromium at $(CHROMIUM); the browser tests will skip (apt-get install chromium)"; \
	else \
		if [ -z "$$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit)" ]; then \
			apt-get update; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

# -- run, test, lint ---------------------------------------------------------------------------

run: $(DEMO_STAMP)
	@test -f examples/demo.py || { echo "examples/demo.py is not written yet: nothing to run" >&2; exit 1; }
	$(BIN)/uvicorn examples.demo:app --host $(HOST) --port $(PORT)

# Its own data directory: the example's "sign out everywhere" must not clear the demo's sessions.
# Its own default port (FASTAPI_PORT, 8001), unless PORT is given (`make run-fastapi PORT=9000`,
# or PORT in the environment), as for `make run`.
RUN_FASTAPI_PORT = $(if $(filter command line environment,$(origin PORT)),$(PORT),$(FASTAPI_PORT))
run-fastapi: $(FASTAPI_STAMP)
	SESSION_DATA_DIR=$${SESSION_DATA_DIR:-.session-data-fastapi} \
		$(BIN)/uvicorn examples.fastapi_app:app --host $(HOST) --port $(RUN_FASTAPI_PORT)

cli: $(CLI_STAMP)
	@$(BIN)/session-service $(ARGS)

test: $(ALL_STAMP) pgbouncer
	$(BIN)/pytest $(PYTEST_ARGS)

# All three checks run even when one fails; the target fails if any did.
lint: $(ALL_STAMP)
	@status=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check . || status=1; \
	echo "$(BIN)/mypy"; $(BIN)/mypy || status=1; \
	exit $$status

# -- documentation and distributions ---------------------------------------------------------

# --strict: any warning (a dead link between pages, a missing anchor, a name mkdocstrings
# cannot find) fails the build. tests/project/test_docs_build.py runs the same build in make test.
# NO_MKDOCS_2_WARNING: Material's banner about MkDocs' future, printed on every build.
docs: export NO_MKDOCS_2_WARNING := 1
docs-serve: export NO_MKDOCS_2_WARNING := 1
docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	$(BIN)/mkdocs serve --strict --dev-addr $(HOST):$(DOCS_PORT)

dist: $(ALL_STAMP)
	rm -rf dist
	$(BIN)/python -m build
	$(BIN)/twine check --strict dist/*

# -- PostgreSQL for the tests (scripts/test-pg.sh says how it is chosen) -------------------------

test.deps.up:
	@bash scripts/test-pg.sh up
	@bash scripts/test-redis.sh up

test.deps.down:
	@bash scripts/test-pg.sh down
	@bash scripts/test-redis.sh down

# Down runs even when the tests fail (or are interrupted); the target exits with pytest's status.
test.session.all: $(ALL_STAMP)
	@bash scripts/test-redis.sh up
	@status=0; SESSION_TEST_REDIS_URL=$(TEST_REDIS_URL) SESSION_TEST_REQUIRE_REDIS=1 \
		bash scripts/test-pg.sh with-db $(BIN)/pytest tests $(PYTEST_ARGS) || status=$$?; \
	bash scripts/test-redis.sh down; exit $$status

# -- benchmarks (benchmarks/ is built separately; these say so until it exists) ----------------

bench: $(ALL_STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-quick: $(ALL_STAMP)
	$(BIN)/python -m benchmarks --quick $(BENCH_ARGS)

soak: $(ALL_STAMP)
	$(BIN)/python -m benchmarks.soak $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist site *.egg-info
