# One Makefile: a local virtual environment, then the two commands of the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean dagster browser bench notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/utfall run --inbox data/sample/inbox --db build/utfall.duckdb --demo-key

# The browser test needs Debian's chromium; install it once if it is missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Dagster's UI and daemon on the build (README, Dagster): UTFALL_INBOX, UTFALL_KEY_FILE or
# UTFALL_KEY, UTFALL_CONFIG_DIR and UTFALL_DB from the environment or .env; the sample without.
# `dg dev` is what the pinned Dagster recommends (`dagster dev` warns that it is superseded); it
# loads the code location `utfall` from pyproject.toml's [tool.dg]. pipelines/dev.py runs it so
# that one Ctrl-C or SIGTERM stops every process of it, even when started in the background.
DAGSTER_PORT ?= 3000
DAGSTER_INSTANCE ?= $(CURDIR)/.dagster_home
dagster: $(STAMP)
	mkdir -p "$(DAGSTER_INSTANCE)" && cp pipelines/dagster.yaml "$(DAGSTER_INSTANCE)/dagster.yaml"
	DAGSTER_HOME="$(DAGSTER_INSTANCE)" exec $(BIN)/python -m utfall.pipelines.dev -p $(DAGSTER_PORT)

# The researchers' desk: JupyterLab from the project's environment on notebooks/, which open
# UTFALL_DB read-only (default: the database `make demo` builds).
NOTEBOOKS_STAMP := $(VENV)/.notebooks
$(NOTEBOOKS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,notebooks]'
	touch $(NOTEBOOKS_STAMP)

notebooks: $(NOTEBOOKS_STAMP)
	@db=$${UTFALL_DB:-$(CURDIR)/build/utfall.duckdb}; \
	  test -f "$$db" || { echo "No database at $$db: run 'make demo' or set UTFALL_DB."; exit 1; }; \
	  echo "Notebooks read $$db (read-only)."; \
	  UTFALL_DB="$$db" $(BIN)/jupyter lab --notebook-dir=notebooks \
	    $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf $(VENV) build

# The national-scale benchmark (bench/, BENCHMARKS.md). The inbox is generated once per scale.
BENCH_SCALE ?= 0.1
BENCH_DIR ?= build/bench
bench: $(STAMP)
	test -d $(BENCH_DIR)/national-$(BENCH_SCALE) || \
	  $(BIN)/python -m synth.national --out $(BENCH_DIR)/national-$(BENCH_SCALE) --scale $(BENCH_SCALE) --seed 1
	$(BIN)/python -m bench.run_bench --inbox $(BENCH_DIR)/national-$(BENCH_SCALE) --work $(BENCH_DIR)/work-$(BENCH_SCALE) --pandas
