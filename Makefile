# Huiliu: the three commands of CONTRACT section 1.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when pyproject.toml changes, so repeated runs are quick.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/huiliu serve --demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite without the browser, fault, fuzz and slow tests (markers in pyproject.toml):
# under two minutes on an idle 2-core machine. `make test` and .ci/run run everything.
FAST := not (browser or faults or fuzz or slow)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "$(FAST)" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app channels tests
	$(BIN)/mypy app channels/base.py channels/registry.py
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var/test-*
