# Comptoir — entry points. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
SERVICE ?= loyalty
AS     ?= postgres
ARGS   ?=

.PHONY: help install browser run stack test test-fast lint format contracts migrate psql topics dlq bench mutation screenshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,local]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv and install everything (done on first use by the other targets)

run: $(STAMP) ## start the local stack and every service; Ctrl-C stops all
	$(PY) -m libs.devstack.devrun $(ARGS)

stack: $(STAMP) ## start only PostgreSQL, the broker and the SMTP and SMS sinks
	$(PY) -m libs.devstack.stack

browser: ## Debian's Chromium for the portal's browser tests (installed with apt as root, else one line says how)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } || \
	  { echo "make test: the browser tests need Chromium: install Debian's package 'chromium' (apt-get install chromium)" >&2; exit 1; }

test: $(STAMP) browser ## the whole test suite on a real PostgreSQL and broker it starts itself, browser tests included
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP) ## the fast tier: domain, use cases and handlers on a rolled-back transaction
	$(PY) -m pytest -m fast $(ARGS)

lint: $(STAMP) ## ruff and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP) ## fix what ruff can fix
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

contracts: $(STAMP) ## write every service's event schemas and examples to docs/events (commit them)
	$(PY) -m tests.contracts.export docs/events

migrate: $(STAMP) ## apply SERVICE's migrations (default loyalty) against the running stack
	DATABASE_URL=postgresql://$(SERVICE)@127.0.0.1:55432/comptoir $(PY) -m services.$(SERVICE) migrate

psql: $(STAMP) ## a psql shell on the local PostgreSQL (AS=loyalty to log in as that service)
	$$($(PY) -c 'import libs.devstack.postgres as s; print(s.psql_path())') -h 127.0.0.1 -p 55432 -U $(AS) comptoir

topics: $(STAMP) ## list the broker's topics
	$(PY) -m libs.common.kafka topics

dlq: $(STAMP) ## list SERVICE's dead letters; ARGS="replay ID" or ARGS="discard ID"
	DATABASE_URL=postgresql://$(SERVICE)@127.0.0.1:55432/comptoir $(PY) -m services.$(SERVICE) dlq $(or $(ARGS),list)

bench: $(STAMP) ## machine limits, then the platform's throughput and latency against them (~5 min)
	@$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench $(ARGS)

mutation: $(STAMP) ## mutants of the four domain modules against their fast tests; killed/survived (~1 min)
	@$(PY) -c 'import mutmut' 2>/dev/null || $(PY) -m pip install --quiet -e '.[mutation]'
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 >/dev/null
	$(PY) -m tests.mutation.report --threshold 85 $(ARGS)

screenshots: $(STAMP) browser ## pictures of the portal's main screens into docs/portal (while `make run` runs)
	$(PY) -m demo.screenshots

clean: ## remove the local data folder (database, mail) and the virtualenv
	rm -rf .data $(VENV)
