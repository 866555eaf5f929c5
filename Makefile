# The README's commands. `make demo` and `make test` each set up everything they need.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
DEMO_DB ?= demo.db

.PHONY: demo test lint types bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed  ## a fresh demo workspace on SQLite, then its pipeline
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/dealflow demo --db sqlite:///$(DEMO_DB)
	$(BIN)/dealflow deal list --db sqlite:///$(DEMO_DB)

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
