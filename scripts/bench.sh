#!/usr/bin/env bash
# `make bench`: runs the asv suite against the already built working tree (.venv, no rebuild),
# records the results under the HEAD commit, and publishes the HTML dashboard to .asv/html
# (open it with `.venv/bin/asv preview`). Extra arguments go to `asv run`, for example
#   bash scripts/bench.sh --bench KMeansLloyd        # one class
#   BENCH_QUICK=1 bash scripts/bench.sh               # every benchmark once (smoke run)
# Commit-by-commit runs in their own environments: `.venv/bin/asv run <range>` (see asv.conf.json).
set -euo pipefail
cd "$(dirname "$0")/.."
ASV=.venv/bin/asv
PY="$PWD/.venv/bin/python"

# The benchmark-only peers (scikit-learn-intelex); an already-satisfied pin is not reinstalled.
"$PY" -m pip install --quiet -r requirements/bench.txt

# asv needs a machine description once per machine (~/.asv-machine.json); take the defaults.
if ! $ASV machine --yes >/dev/null; then
  echo "asv machine set-up failed" >&2
  exit 1
fi

args=(-E "existing:$PY" --set-commit-hash "$(git rev-parse HEAD)" --show-stderr)
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  args+=(--quick)
fi
echo "load before: $(cat /proc/loadavg)"
$ASV run "${args[@]}" "$@"
echo "load after:  $(cat /proc/loadavg)"
$ASV publish
echo "Dashboard written to .asv/html; view it with: .venv/bin/asv preview"
echo "Ratio table and chart: .venv/bin/python -m benchmarks.report"
