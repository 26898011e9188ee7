# One command each: `make setup`, `make reproduce` (main job), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup reproduce test bench lab clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (htsr)"

reproduce:
	$(BIN)/htsr reproduce

test:
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

bench:
	$(BIN)/python benchmarks/bench_analyze.py

lab:
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf build data/results
