# Development commands. A fresh clone needs python3 (>= 3.10), node (>= 20) and npm; everything else is installed here.
PYTHON ?= python3
VENV := .venvs/dev
BIN := $(VENV)/bin
# tox's interpreters: pyenv's 3.10 to 3.13 when present (else whatever python3.X is on PATH).
PYENV_BINS := $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin $(HOME)/.pyenv/versions/3.11.*/bin \
                         $(HOME)/.pyenv/versions/3.12.*/bin $(HOME)/.pyenv/versions/3.13.*/bin)
# Debian packages the tests need: Chromium for the browser test (no browser is downloaded), Redis for the tests
# that start a real server. Each package's binary has the package's name.
SYSTEM_PACKAGES := chromium redis-server

.PHONY: demo test test-all screenshots lint bench bench-smoke install system-deps clean

install: $(VENV)/.installed node_modules/.installed

# The package (editable) with its dev extra: the test and bench extras, ruff, mypy, build, twine, tox.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# Azurite, pinned in package.json. Its 3.37 declares Node >= 22 but runs on Node 20 (.npmrc: engine-strict=false):
# --loglevel=error hides the harmless EBADENGINE warnings, never an error.
node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-fund --no-audit --loglevel=error
	touch $@

## Debian's packages for the tests, with apt-get (through sudo unless root), only when a binary is missing.
system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do command -v $$pkg >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "Installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## The example project on the emulators, with fault buttons and its task worker: http://127.0.0.1:8000/ (Ctrl-C stops
## everything). ARGS="--keep" keeps the database and the emulators' data from the last run; ARGS="--url-mode redirect"
## serves the media through redirect links (/files/...) that choose a healthy cloud at each load.
demo: install
	$(BIN)/python example_project/demo.py $(ARGS)

## The test suite against moto server and Azurite (the fixtures start them) and the browser test, on the default Django.
## The browser test's screenshots go to .artifacts/screenshots/ (ignored): the tests leave the work tree as it was.
test: install system-deps
	$(BIN)/python -m pytest

## The suite (but the browser test) on every supported Django: 4.2 (DEFAULT_FILE_STORAGE, Python 3.10), 5.2, 6.0, 6.1.
## TOX_ARGS="-e py310-django42,py312-django60" picks environments.
test-all: install
	PATH="$(subst $(eval) ,:,$(PYENV_BINS)):$$PATH" $(BIN)/tox -p 2 $(TOX_ARGS)

## Refreshes the committed screenshots in example_project/screenshots/ (the browser tests, writing there: two demos,
## direct and redirect mode, about a minute).
screenshots: install system-deps
	MULTICLOUD_SCREENSHOTS_DIR="$(CURDIR)/example_project/screenshots" $(BIN)/python -m pytest -m browser

## Static checks, run by CI (.ci/run) before the tests: ruff check, ruff format --check, mypy --strict on the package.
lint: install
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy --strict multicloud_storage || status=1; \
	exit $$status

## Saves (WAN-shaped and loopback), memory, reads and url() against django-storages, in one run (several
## minutes, 1 GiB saves): writes benchmarks/RESULTS.md, results.json and the charts. Needs matplotlib.
bench: install
	$(BIN)/python -m benchmarks.bench
	$(BIN)/python -m benchmarks.bench_redirect

## The same harness at tiny sizes, one repetition (~1 min); keeps no file, asserts no timing (exit 1 only if a case failed).
bench-smoke: install
	$(BIN)/python -m benchmarks.bench --smoke

clean:
	rm -rf .venvs .tox node_modules .artifacts build dist
