# The two commands: `make run` (the registry on its embedded SQLite default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed

.PHONY: run test lint format bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/mcp-mesh-registry $(ARGS)

# Two workers (one per core); each test module runs whole on one of them, with its fixtures, in
# the order tests/conftest.py gives (the longest first; xdist would put the modules with the most
# tests first, and the long crash tests, which have one each, would run last, alone).
TEST_WORKERS ?= -n 2 --dist loadscope --no-loadscope-reorder

test: $(TEST_STAMP) lint
	$(BIN)/python -m pytest $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(TEST_STAMP)
	$(BIN)/python bench/all.py $(ARGS)

soak: $(TEST_STAMP)
	$(BIN)/python -m pytest -m soak -s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
