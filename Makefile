# Two entry points (see README): `make demo` runs the main job on the sandbox into DuckDB; `make test` runs the tests.
# Both set up everything they need on a fresh machine (Python 3.11 and the package registries only).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/meltano install --clean
	mkdir -p output
	$(BIN)/meltano run tap-creatorsocial target-duckdb
	$(BIN)/python scripts/check_duckdb.py output/creator_data.duckdb

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check tap_creatorsocial tests scripts benchmarks
	$(BIN)/mypy tap_creatorsocial

bench: $(STAMP) ; $(BIN)/python benchmarks/compare.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .meltano output
