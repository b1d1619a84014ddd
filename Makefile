# The project's commands. `make demo` sets everything up and runs the showcase; `make test` runs
# every test (Rust and Python). Both are safe to repeat: set-up skips what is already done.
PYTHON := .venv/bin/python
export CARGO_TARGET_DIR := $(CURDIR)/rust_plugins/target

.PHONY: setup demo test test-rust test-python soak bench bench-report clean

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

bench: setup
	bash scripts/bench.sh

bench-report:
	$(PYTHON) -m benchmarks.report

clean:
	rm -rf rust_plugins/target .venv
