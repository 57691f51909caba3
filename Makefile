# Touchline: `make run` to use it, `make test` to test it. Both work on a fresh Debian machine with Python 3.11.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_PYTHON_DOWNLOADS := never
PYTEST := $(BIN)/pytest -q -p no:cacheprovider

.PHONY: run test venv venv-dev system-deps lint test-sqlite test-postgres test-browser bench clean

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages --user uv

venv: $(UV)
	$(UV) sync --frozen --no-dev --quiet

venv-dev: $(UV)
	$(UV) sync --frozen --quiet

# Serve the UI with a background worker on 127.0.0.1:8000; loads demo data into an empty database.
run: venv
	$(BIN)/touchline serve

# Debian packages the tests need: a PostgreSQL server and Chromium (installed only when missing).
system-deps:
	@bash scripts/system-deps.sh

lint: venv-dev
	$(BIN)/ruff check .

# flufl.bounce's own 117 real bounce messages (from its source distribution), which the bounce tests run over.
BOUNCE_DATA := var/test-data/flufl_bounce-6.0.0
$(BOUNCE_DATA):
	mkdir -p var/test-data
	python3 -m pip download --quiet --no-binary :all: --no-deps flufl.bounce==6.0.0 -d var/test-data
	tar xzf var/test-data/flufl_bounce-6.0.0.tar.gz -C var/test-data

test-sqlite: venv-dev $(BOUNCE_DATA)
	$(PYTEST) -n 2 -m "not browser"

test-postgres: venv-dev system-deps $(BOUNCE_DATA)
	bash scripts/with-postgres.sh $(PYTEST) -n 2 -m "not browser"

test-browser: venv-dev system-deps
	$(PYTEST) -m browser tests/e2e

test: system-deps venv-dev
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint && \
	echo "== suite on SQLite" && $(MAKE) --no-print-directory test-sqlite && \
	echo "== suite on PostgreSQL" && $(MAKE) --no-print-directory test-postgres && \
	echo "== browser tests (Chromium)" && $(MAKE) --no-print-directory test-browser && \
	echo "make test: all stages passed in $$(( $$(date +%s) - start ))s"

bench: venv-dev system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/static .pytest_cache .ruff_cache
