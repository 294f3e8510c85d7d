# Every target does its own set-up: on a fresh machine `make demo` and `make test` are enough.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch lies on this machine's disk; an open-ended `torch` would pull a CUDA build.
# Override for a GPU machine, e.g. `make install TORCH_SPEC='torch==2.13.0 --index-url ...'`.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= all,dev
BIN := $(VENV)/bin
STAMP := $(VENV)/.trainspec-installed
PYTEST_ARGS ?=
# Tests run in parallel (pytest-xdist), one worker per core; `make pytest PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= auto

.PHONY: install demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

# The sleep-staging pipeline (examples/sleep_staging/pipeline.yaml) in a new run folder; steps
# finished before (same specs, code and data) are reused from the cache, so a second `make demo`
# takes seconds. Then every step's state and the kappa table with the command behind each number.
DEMO_STAMP := $(shell date +%Y%m%d-%H%M%S)
DEMO_DIR ?= runs/sleep_staging/demo-$(DEMO_STAMP)
demo: install
	$(BIN)/trainspec pipeline run examples/sleep_staging/pipeline.yaml --run-dir $(DEMO_DIR)
	$(BIN)/trainspec pipeline status $(DEMO_DIR)

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: install
	$(BIN)/mypy src/trainspec

pytest: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
