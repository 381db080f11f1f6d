# Two commands do all set-up on a fresh machine with Python 3.11+, make and git:
#   make run   -> create .venv, install the locked versions, start taskagent
#   make test  -> same set-up, then ruff check, ruff format --check, the import contracts,
#                 mypy and the whole pytest suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Stamp file: re-sync only when the lock or the project metadata changed.
STAMP := $(VENV)/.synced

.PHONY: run test lint format bench clean install

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): $(BIN)/uv uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --python $(BIN)/python --quiet
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/taskagent $(ARGS)

# Four pytest processes (pytest-xdist): most of the suite's time is spent waiting (daemons,
# real servers, real processes), so even a 2-core machine runs four at once: measured there,
# four take about 0.85x the time of two on a quiet machine, and keep a busy one under its limit.
TEST_PROCESSES ?= 4

# lint-imports and mypy read their settings from pyproject.toml. mypy is incremental: with its
# cache (.mypy_cache) a re-run checks only what changed.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
