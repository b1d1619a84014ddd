#!/usr/bin/env bash
# `make bench-publish`: the dashboard of every result recorded in benchmarks/results (the
# reference machine's history and any local run), written to .asv/html and made to render
# without internet access (scripts/bench_offline_dashboard.py). Runs no benchmark.
# View it with `.venv/bin/asv preview` (http://127.0.0.1:8080); `make bench-check` opens it in
# headless Chromium and checks that the plots are drawn.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${BENCH_PYTHON:-$PWD/.venv/bin/python}"
"$(dirname "$PY")/asv" publish
"$PY" scripts/bench_offline_dashboard.py .asv/html
echo "Dashboard written to .asv/html; view it with: $(dirname "$PY")/asv preview"
