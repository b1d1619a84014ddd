# The project's commands. `make demo` sets everything up and runs the showcase; `make test` runs
# every test (Rust and Python). Both are safe to repeat: set-up skips what is already done.
PYTHON := .venv/bin/python
export CARGO_TARGET_DIR := $(CURDIR)/rust_plugins/target

.PHONY: setup demo test test-rust test-python bench bench-report clean

setup:
	bash scripts/setup.sh

demo: setup
	$(PYTHON) scripts/demo.py

test: setup test-rust test-python

test-rust:
	cd rust_plugins && cargo test --release -p kernels

test-python:
	$(PYTHON) -m pytest tests

bench: setup
	bash scripts/bench.sh

bench-report:
	$(PYTHON) -m benchmarks.report

clean:
	rm -rf rust_plugins/target .venv
