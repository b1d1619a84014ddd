# The project's commands. `make demo` sets everything up and runs the showcase; `make test` runs
# every test (Rust and Python). Both are safe to repeat: set-up skips what is already done.
PYTHON := .venv/bin/python
# The interpreter the benchmark scripts use (and whose asv runs them).
export BENCH_PYTHON ?= $(abspath $(PYTHON))
export CARGO_TARGET_DIR := $(CURDIR)/rust_plugins/target

.PHONY: setup demo test test-rust test-python soak bench bench-publish bench-compare bench-check \
	bench-report clean

setup:
	bash scripts/setup.sh

demo: setup
	$(PYTHON) scripts/demo.py

test: setup test-rust test-python

test-rust:
	cd rust_plugins && cargo test --release -p kernels

test-python:
	$(PYTHON) -m pytest tests

# Random calls of every estimator and op against the originals for SOAK_SECONDS (default 10
# minutes), watching for mismatches, crashes, hangs and memory growth. `make test` runs 30 s.
SOAK_SECONDS ?= 600
soak: setup
	$(PYTHON) tests/soak.py --seconds $(SOAK_SECONDS)

# Benchmarks (README, "Benchmarks"): run the asv suite on this working tree and record it under
# HEAD in benchmarks/results, then publish the dashboard (.asv/html, renders offline).
bench: setup
	bash scripts/bench.sh

# The dashboard of the recorded results only (no benchmark runs).
bench-publish:
	bash scripts/bench_publish.sh

# asv's comparison of HEAD with BASE (recorded results; HEAD is run first if it has none); fails
# when a benchmark is more than 10% slower. `make bench-compare BASE=main~3`
BASE ?= main
bench-compare:
	@$(BENCH_PYTHON) scripts/bench_results.py has HEAD || bash scripts/bench.sh
	$(BENCH_PYTHON) scripts/bench_results.py compare $(BASE) HEAD

# Opens the published dashboard in headless Chromium without network and checks the plots are
# drawn (screenshots in .asv/screenshots). Installs Debian's chromium when missing (as root).
bench-check: bench-publish
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends chromium; } || \
	  { echo "bench-check needs Chromium: apt-get install chromium (as root)"; exit 1; }
	$(BENCH_PYTHON) scripts/bench_check.py .asv/html

bench-report:
	$(PYTHON) -m benchmarks.report

clean:
	rm -rf rust_plugins/target .venv
