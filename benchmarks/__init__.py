"""asv benchmark suite: sklearn_rs and torch_rs side by side with the libraries they replace.

Run it with ``make bench`` (working tree) or ``asv run`` (commit by commit); print the ratio table
with ``python -m benchmarks.report``.
"""
