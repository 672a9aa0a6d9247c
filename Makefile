# Development commands. A fresh clone needs python3 (>= 3.10), node and npm; everything else is installed here.
PYTHON ?= python3
VENV := .venvs/dev
BIN := $(VENV)/bin
PYENV_BINS := $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin $(HOME)/.pyenv/versions/3.13.*/bin)

.PHONY: test test-all bench install clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]" tox
	touch $@

node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-fund --no-audit
	touch $@

## The test suite against moto server and Azurite (the fixtures start them), on the default Django.
test: install
	$(BIN)/python -m pytest

## The suite on every supported Django: 4.2 (DEFAULT_FILE_STORAGE), 5.2, 6.0 and 6.1 (Python 3.12/3.13).
test-all: install
	PATH="$(subst $(eval) ,:,$(PYENV_BINS)):$$PATH" $(BIN)/tox -p 2

## url() against django-storages; writes benchmarks/RESULTS.md.
bench: install
	$(BIN)/python -m benchmarks.bench_urls

clean:
	rm -rf .venvs .tox node_modules
