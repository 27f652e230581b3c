# Everything a new machine needs goes through these targets; `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
# The browser test drives Debian's headless Chromium (never a downloaded one).
CHROMIUM := /usr/bin/chromium
# The app's chart component: browser code bundled from npm packages (package-lock.json pins them) into
# static/, which the Python package ships (package-data). Node and npm build it; the app never fetches it.
CURVES := lakehouse/app/components/curves
CURVES_JS := $(CURVES)/static/curves.js
# npm as found on the PATH; when there is none, Debian's nodejs and npm are installed (like Chromium below).
NPM := $(or $(shell command -v npm 2>/dev/null),/usr/bin/npm)

.PHONY: install browser components demo test lint format bench lock clean

install: $(STAMP) components

## The chart component's assets (rebuilt when its sources or lockfile change).
components: $(CURVES_JS)

$(CURVES_JS): $(CURVES)/frontend/package-lock.json $(CURVES)/frontend/build.mjs $(wildcard $(CURVES)/frontend/src/*) | $(NPM)
	cd $(CURVES)/frontend && $(NPM) ci --no-audit --no-fund --loglevel=error && $(NPM) run --silent build

/usr/bin/npm:
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm'

$(STAMP): pyproject.toml requirements/lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"
	$(UV) pip install --python $(PY) --quiet -r requirements/lock.txt
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	touch $(STAMP)

## Debian's Chromium and its driver for the browser test, installed only when missing.
browser: $(CHROMIUM)

$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver'

## Pin every dependency (run after changing pyproject.toml).
lock:
	$(UV) pip compile pyproject.toml --extra all --extra dev --python-version 3.11 --quiet -o requirements/lock.txt

## Build the sample lakehouse (digits datasets + short Keras runs), then serve the app on it (Ctrl-C stops it).
## A slow training run trains next to it meanwhile, so the Live page has a run to follow.
## Both run in the background and the shell waits for them: `wait` (unlike a foreground command) returns as
## soon as INT or TERM arrives, so the trap stops the app and the trainer even when only make is signalled.
demo: install
	$(VENV)/bin/lakehouse demo
	@$(PY) -m lakehouse.demo.training >/dev/null 2>&1 & trainer=$$!; \
	$(VENV)/bin/lakehouse app & app=$$!; \
	trap 'kill $$app $$trainer 2>/dev/null' INT TERM; \
	wait $$app; code=$$?; kill $$trainer 2>/dev/null; wait; exit $$code

test: install $(CHROMIUM)
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(CURVES)/static $(CURVES)/frontend/node_modules
