# Development commands. A fresh clone needs python3 (>= 3.10), node and npm; everything else is installed here.
PYTHON ?= python3
VENV := .venvs/dev
BIN := $(VENV)/bin
PYENV_BINS := $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin $(HOME)/.pyenv/versions/3.13.*/bin)

.PHONY: demo test test-all bench install chromium clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]" tox
	touch $@

node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-fund --no-audit
	touch $@

## Debian's Chromium for the browser test (nothing downloads a browser of its own).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

## The example project on the emulators, with fault buttons: http://127.0.0.1:8000/ (Ctrl-C stops everything).
demo: install
	$(BIN)/python example_project/demo.py

## The test suite against moto server and Azurite (the fixtures start them) and the browser test, on the default Django.
test: install chromium
	$(BIN)/python -m pytest

## The suite (but the browser test) on every supported Django: 4.2 (DEFAULT_FILE_STORAGE), 5.2, 6.0 and 6.1.
test-all: install
	PATH="$(subst $(eval) ,:,$(PYENV_BINS)):$$PATH" $(BIN)/tox -p 2

## url() against django-storages; writes benchmarks/RESULTS.md.
bench: install
	$(BIN)/python -m benchmarks.bench_urls

clean:
	rm -rf .venvs .tox node_modules
