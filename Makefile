# One command each: `make setup`, `make reproduce` (main job), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Debian's Chromium and its driver, for the real-browser test (tests/test_browser.py);
# apt-get runs only when one of them is missing (CI runs as root; others get sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser reproduce test bench lab clean

setup: browser
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev,lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (htsr)"

browser:
	@if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	else \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi

reproduce:
	$(BIN)/htsr reproduce

# Each notebook runs once: nbval runs every notebook but 08_summary with its defaults, and
# tests/test_reproduce.py runs 08_summary as the offline main job (pretrained weights).
test:
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks \
		--deselect notebooks/08_summary.ipynb

bench:
	$(BIN)/python benchmarks/bench_analyze.py

lab:
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf build data/results
