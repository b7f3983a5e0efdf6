# Two commands for a new user: `make demo` and `make test`.
# Both create the virtualenv .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neorank-installed
CORES ?= 2
# pytest-xdist workers for `make test` (the suite's groups: tests/conftest.py).
TEST_WORKERS ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test test-fast lint report report-screenshots clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of torch first: a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the whole workflow on the embedded demo (two samples, one per input mode).
demo: $(STAMP)
	$(BIN)/snakemake --snakefile workflow/Snakefile --cores $(CORES) --show-failed-logs
	@echo "Reports: results/*/report.html"

## Run the test suite (unit tests + the workflow integration test).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder \
		--durations=15 tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not workflow" tests

lint: $(STAMP)
	$(BIN)/ruff check neorank scripts tests
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --snakefile workflow/Snakefile --lint

## Snakemake's own report (report.zip) for the demo run.
report: $(STAMP)
	$(BIN)/snakemake --snakefile workflow/Snakefile --report report.zip

## Screenshots of the demo's report.html and cohort.html at 390 and 1400 px (needs chromium).
report-screenshots: $(STAMP)
	test -f results/osteosarc-paired/report.html || $(MAKE) demo
	$(BIN)/python tests/unit/test_report_browser.py --out docs/img --prefix after \
		results/osteosarc-paired/report.html results/cohort.html

clean-demo:
	rm -rf results logs benchmarks .snakemake
