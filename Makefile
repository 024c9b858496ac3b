# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create the virtual environment when it is missing and install the package into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# numba (used by UMAP) caches its compiled code here, so only the first UMAP call pays for it.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg

.PHONY: demo test test-standalone lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned, so that no other requirement can pull a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ividr.cli.demo --out demo-out

# The whole suite with the external datasets wherever IVIDR_DATA (or its default) says,
# then the stand-alone proof: the fast suite again with no external data at all.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
	@$(MAKE) --no-print-directory test-standalone

# The non-slow suite with IVIDR_DATA pointed at an empty temporary folder: what a fresh clone
# without the external datasets sees. Tests that need one skip; pytest prints how many.
test-standalone: $(STAMP)
	@echo "Stand-alone check: the non-slow suite with IVIDR_DATA pointed at an empty folder"
	@empty=$$(mktemp -d) && trap 'rmdir "$$empty"' EXIT && \
		IVIDR_DATA="$$empty" $(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_simgen.py

clean:
	rm -rf $(VENV) .cache simgen-out demo-out notebook-out
