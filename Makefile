# syncd — set-up and run targets. Every target creates .venv and installs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POOL ?= squarespace

.PHONY: install test demo lint clean bench bench-profile bench-floor

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole suite (SQLite always; PostgreSQL too when SYNCD_TEST_PG_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## Simulated stores on 127.0.0.1, an SQLite ledger, cycles with sales (POOL=squarespace|mixed|all).
demo: $(STAMP)
	$(BIN)/python -m syncd.testing.demo --pool $(POOL) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check syncd tests
	$(BIN)/mypy syncd

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

## Benchmark (not part of make test): simulators over 127.0.0.1, results in bench/results/.
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## A steady cycle's CPU and peak RSS phase by phase (not part of make test).
bench-profile: $(VENV)/.bench-installed
	$(BIN)/python bench/profile.py $(BENCH_ARGS)

## Rate-limit floor (not part of make test): each platform's documented limit, virtual time.
bench-floor: $(STAMP)
	$(BIN)/python bench/floor.py $(BENCH_ARGS)
