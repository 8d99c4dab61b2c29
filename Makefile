# geo_service — the two set-up commands are `make run` and `make test`.
#
# Installs go through uv (one wheel from PyPI, bootstrapped into the venv: it resolves and
# downloads in parallel and says what it is doing), falling back to pip with a progress bar when
# uv cannot be installed. Both take the versions that were tested from
# requirements/constraints.txt. `make run` installs the runtime dependencies only; `make test`
# adds the test and lint tools (pytest, esda, playwright, ruff, mypy) and the optional Dask
# engine (its tests start a small local cluster).
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
UV          := $(VENV)/bin/uv
STORE       ?= data/store
PORT        ?= 5000
CONSTRAINTS := requirements/constraints.txt
RUN_STAMP   := $(VENV)/.installed-run
TEST_STAMP  := $(VENV)/.installed-test
# (a variable: a comma inside $(call ...) would split the argument)
TEST_EXTRAS := '.[test,dev,dask]'

.PHONY: run test lint bench bench-scale bench-docs constraints clean

# Without pip: seeding pip into a venv costs ~20 s on a busy machine and uv does not need it.
$(PY):
	@echo "creating the virtual environment $(VENV)"
	$(PYTHON) -m venv --without-pip $(VENV)

# uv goes in through the system's pip (pip >= 22.3 can install into another environment), or
# through pip seeded into the venv when that fails.
$(VENV)/.uv: | $(PY)
	@echo "bootstrapping uv into $(VENV) (one wheel from PyPI; pip is used if this fails)"
	-$(PYTHON) -m pip --python $(PY) install --disable-pip-version-check --progress-bar on uv \
		|| ($(PY) -m ensurepip --upgrade && \
		    $(PY) -m pip install --disable-pip-version-check --progress-bar on uv)
	touch $@

# $(call install,REQUIREMENT): uv when it works, else pip; constrained to the tested versions.
define install
	if $(UV) --version >/dev/null 2>&1; then \
		$(UV) pip install --python $(PY) --constraint $(CONSTRAINTS) $(1); \
	else \
		$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade; \
		$(PY) -m pip install --disable-pip-version-check --progress-bar on \
			--constraint $(CONSTRAINTS) $(1); \
	fi
endef

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV)/.uv
	@echo "installing geo_service and its runtime dependencies into $(VENV)"
	$(call install,-e .)
	touch $@

$(TEST_STAMP): pyproject.toml $(CONSTRAINTS) | $(VENV)/.uv
	@echo "installing geo_service with its test and lint tools into $(VENV)"
	$(call install,-e $(TEST_EXTRAS))
	touch $@ $(RUN_STAMP)

## run: prepare the demo store if missing, then serve it on http://127.0.0.1:$(PORT)
run: $(RUN_STAMP)
	$(PY) -m geo_service --store $(STORE) demo --if-missing
	$(PY) -m geo_service --store $(STORE) serve --port $(PORT)

## test: the whole suite
test: $(TEST_STAMP)
	$(PY) -m pytest

## lint: ruff (lint + format check) and mypy
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy geo_service

## bench: every benchmark, each in its own process; results in bench/results/*.json
bench: $(TEST_STAMP)
	$(PY) -m bench
	$(PY) -m bench.docs

## bench-scale: single process vs a 2-worker Dask cluster on synthetic police.uk rows (ROWS=10000000)
ROWS ?= 10000000
bench-scale: $(TEST_STAMP)
	$(PY) -m bench.scale --rows $(ROWS)

## bench-docs: rewrite the docs' benchmark tables from bench/results/*.json
bench-docs: $(PY)
	$(PY) -m bench.docs

## constraints: record the versions installed in this venv (after a passing `make test`)
constraints: $(TEST_STAMP)
	@echo "# The versions \`make test\` passed with; \`make run\`, \`make test\` and .ci/run install these." > $(CONSTRAINTS).tmp
	@echo "# Regenerate with \`make constraints\` after upgrading and testing." >> $(CONSTRAINTS).tmp
	$(UV) pip freeze --python $(PY) --exclude-editable | grep -v '^#' | grep -v '^-e ' \
		| grep -iv '^uv==' >> $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)

clean:
	rm -rf $(VENV) data/store .pytest_cache .ruff_cache .mypy_cache
