# syncd — set-up and run targets. Every target creates .venv and installs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POOL ?= squarespace

.PHONY: install test demo demo-live lint clean bench bench-profile bench-floor lock bench-latency bench-fleet

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

## The simulated stores, syncd run with its status page on http://127.0.0.1:8787/status, a shopper making
## sales every few seconds; Ctrl-C stops everything (LIVE_POOL=squarespace|mixed|all).
LIVE_POOL ?= all
demo-live: $(STAMP)
	$(BIN)/python -m syncd.testing.demo_live --pool $(LIVE_POOL) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check syncd tests
	$(BIN)/mypy syncd

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

## Pin the runtime dependencies with hashes (the image installs exactly these) from
## pyproject.toml's ranges, resolved on PyPI alone. Existing pins are kept unless LOCK_ARGS=--upgrade.
lock:
	rm -rf .venv-lock && $(PY) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= .venv-lock/bin/pip-compile --quiet --generate-hashes --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
	  --output-file requirements.lock pyproject.toml
	rm -rf .venv-lock

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

## Sale-to-every-store latency with store events and polling only (not part of make test).
bench-latency: $(STAMP)
	$(BIN)/python bench/latency.py $(BENCH_ARGS)

## The fleet: pools' cycles over 1, 2 and 4 syncd worker processes on PostgreSQL (not part of make test).
bench-fleet: $(STAMP)
	$(BIN)/python bench/fleet.py $(BENCH_ARGS)
