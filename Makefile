# geo_service — the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STORE  ?= data/store
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "installing geo_service and its dependencies into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --progress-bar on -e '.[test,dev]'
	touch $(STAMP)

## run: prepare the demo store if missing, then serve it on http://127.0.0.1:5000
run: $(STAMP)
	$(PY) -m geo_service --store $(STORE) demo --if-missing
	$(PY) -m geo_service --store $(STORE) serve

## test: the whole suite
test: $(STAMP)
	$(PY) -m pytest

## lint: ruff (lint + format check) and mypy
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy geo_service

## bench: benchmarks; results written to bench/results/*.json
bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) data/store .pytest_cache .ruff_cache .mypy_cache
