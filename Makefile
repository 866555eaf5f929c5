# The README's commands. `make demo` and `make test` each set up everything they need.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
DEMO_DB ?= demo.db
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo demo-reset test lint types bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed  ## the web app and API on a demo workspace in SQLite (seeded on first start)
	$(BIN)/dealflow serve --demo --db sqlite:///$(DEMO_DB) --host $(HOST) --port $(PORT)

demo-reset:  ## forget the demo workspace; the next `make demo` seeds a fresh one
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

types: $(BIN)/.installed
	$(BIN)/mypy src

test: lint types  ## lint, types, then every test on SQLite and PostgreSQL
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_moves.py

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm .pytest_cache .mypy_cache .ruff_cache
