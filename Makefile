# The two commands: `make demo` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/solvent demo --node
	$(BIN)/solvent demo --chain
	$(BIN)/solvent demo --chain --escape

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/state.py
	$(BIN)/python bench/risk_scan.py
	$(BIN)/python bench/liquidation.py
	$(BIN)/python bench/options.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/node.py
	$(BIN)/python bench/stress.py
	$(BIN)/python bench/gas.py
	$(BIN)/python bench/checkpoint.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
