# Catalogue national des aides à la transition écologique.
# Two commands on a fresh machine: `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export DAGSTER_HOME := $(CURDIR)/data/dagster

.PHONY: install web oracle browser run lint test dev serve bench clean help

help:
	@echo "make run    installe l'environnement puis lance toute la chaîne sur les sources réelles"
	@echo "make test   installe l'environnement, vérifie le code (ruff, mypy) puis lance les tests"
	@echo "make lint   ruff (lint et format) et mypy sur le cœur, sans les tests"
	@echo "make dev    ouvre l'interface Dagster (et son démon) sur l'instance du dépôt"
	@echo "make serve  lance l'application web des collectivités (http://127.0.0.1:8000)"
	@echo "make bench  mesure chaque étape sur SIZE enregistrements synthétiques (défaut 100000)"

# The virtualenv is rebuilt from the lock file whenever pyproject.toml or uv.lock change. Bytecode is
# compiled at install time: where PYTHONDONTWRITEBYTECODE is set, every process would otherwise
# recompile every module it imports (≈ 4 s per `aides run`).
$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --frozen --quiet --compile-bytecode
	$(VENV)/bin/python -m compileall -q -j 0 aides_cli pipelines schemas sources warehouse webapp benchmarks
	touch $@

install: $(VENV)/.installed

# The État's design system (DSFR), from its npm package, for the web application.
web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

web: web/node_modules/.installed

# The publicodes engine and the aides-velo model, pinned, the oracle of tests/test_publicodes_oracle.py.
tools/publicodes-oracle/node_modules/.installed: tools/publicodes-oracle/package.json tools/publicodes-oracle/package-lock.json
	cd tools/publicodes-oracle && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

oracle: tools/publicodes-oracle/node_modules/.installed

# Debian's Chromium, for the browser tests of the web application (Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium absent : installez le paquet Debian chromium (sudo apt-get install chromium)"; fi; }

run: install
	$(VENV)/bin/aides run

# Lint, format and type checks (zero findings), then the tests.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint web browser oracle
	$(VENV)/bin/python -m pytest

dev: install
	mkdir -p $(DAGSTER_HOME) && cp pipelines/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -w workspace.yaml --host 127.0.0.1 --port 3000

serve: install web
	$(VENV)/bin/aides serve

# Speed and memory, stage by stage, on synthetic sources (benchmarks/README.md).
SIZE ?= 100000
bench: install
	$(VENV)/bin/python -m benchmarks $(SIZE) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data
