# GANlift: `make run` sets up and starts the app on the embedded default model;
# `make test` sets up and runs lint and the whole test suite.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APP_ARGS ?=

.PHONY: run test screenshots setup setup-test lint format clean

run: setup
	$(PY) launch.py $(APP_ARGS)

# A test stopped by the per-test timeout (pyproject.toml) takes its worker down; it is run once
# more, so one stuck browser or peer process does not fail the suite, and the summary counts it.
test: setup-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -n 2 --durations=15 --reruns 1 --only-rerun "crashed while running"

# The README's screenshots: the browser tests on the embedded default models.
screenshots: setup-test
	GANLIFT_SCREENSHOTS=1 $(PY) -m pytest -q tests/e2e

setup: $(VENV)/.stamp-run
setup-test: $(VENV)/.stamp-test

$(VENV)/.stamp-run: requirements.txt scripts/system_deps.sh scripts/check_python.sh scripts/install_torch.sh
	@PYTHON=$(PYTHON) bash scripts/check_python.sh
	@PYTHON=$(PYTHON) bash scripts/system_deps.sh run
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)
	@PY=$(PY) bash scripts/install_torch.sh
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-run requirements-dev.txt
	@PYTHON=$(PYTHON) bash scripts/system_deps.sh test
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
