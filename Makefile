# Catalogue national des aides à la transition écologique.
# Two commands on a fresh machine: `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: install run test dev bench clean help

help:
	@echo "make run    installe l'environnement puis lance toute la chaîne sur les sources réelles"
	@echo "make test   installe l'environnement puis lance les tests"
	@echo "make dev    ouvre l'interface Dagster (et son démon) sur l'instance du dépôt"

# The virtualenv is rebuilt from the lock file whenever pyproject.toml or uv.lock change.
$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/aides run

test: install
	$(VENV)/bin/python -m pytest

dev: install
	$(VENV)/bin/dagster dev -w workspace.yaml --host 127.0.0.1 --port 3000

clean:
	rm -rf $(VENV) warehouse/data warehouse/cache
