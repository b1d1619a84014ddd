#!/usr/bin/env bash
# `make bench`: runs the asv suite on this working tree as built (no rebuild), records the
# results under the HEAD commit in benchmarks/results/<machine>/ (the repository's history), and
# publishes the dashboard to .asv/html, rendering offline. Extra arguments go to `asv run`:
#   bash scripts/bench.sh --bench KMeansLloyd         # one class
#   BENCH_QUICK=1 bash scripts/bench.sh                # every benchmark once (smoke run)
# What is measured: the sklearn_rs and torch_rs packages of THIS working tree, with the native
# modules built in it (sklearn_rs/_core*.so, torch_rs/_C*.so), imported by BENCH_PYTHON (default
# .venv/bin/python) with its numpy/scikit-learn/torch. asv drops PYTHONPATH; ASV_PYTHONPATH
# puts this tree first, so a .venv whose editable installs point at another checkout still
# measures this one.
# Commit-by-commit runs in their own environments: `.venv/bin/asv run <range>` (asv.conf.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_TINY:-0}" = 1 ]; then
  echo "BENCH_TINY=1 (the smoke test's tiny data) is set: unset it to measure" >&2
  exit 1
fi
PY="${BENCH_PYTHON:-$PWD/.venv/bin/python}"
ASV="$(dirname "$PY")/asv"
export ASV_PYTHONPATH="$PWD"

# The benchmark-only peers (scikit-learn-intelex); an already-satisfied pin is not reinstalled.
"$PY" -m pip install --quiet -r requirements/bench.txt

# Refuse to record figures of something else than this tree's build.
PYTHONPATH="$PWD" "$PY" - <<'EOF'
import os, sys
import sklearn_rs._core as core
tree = os.getcwd()
where = {"sklearn_rs._core": core.__file__}
try:
    import torch_rs._C as c
    where["torch_rs._C"] = c.__file__
except ImportError as exc:
    sys.exit(f"torch_rs is not importable from this tree ({exc}): build it (make setup)")
for name, path in where.items():
    print(f"measuring {name}: {path}")
    if not os.path.realpath(path).startswith(os.path.realpath(tree) + os.sep):
        sys.exit(f"{name} is not this working tree's build")
EOF

# asv needs a machine description once per machine (~/.asv-machine.json); take the defaults.
if ! "$ASV" machine --yes >/dev/null; then
  echo "asv machine set-up failed" >&2
  exit 1
fi

# Each parameter set runs in a fork of one process that imported the suite (forkserver), with
# the group's libraries already imported (benchmarks/common.py, PREIMPORTS): the estimators
# with scikit-learn, then the ops with torch and its compiler. A selection of one's own
# (--bench REGEX) runs as one group without torch.
args=(-E "existing:$PY" --set-commit-hash "$(git rev-parse HEAD)" --show-stderr
      --launch-method forkserver)
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  args+=(--quick)
fi
# The op group: the modules with an OpBenchmark class (importing them does not import torch);
# every other benchmark is in the estimator group, so a new module always runs.
OP_MODULES=$(PYTHONPATH="$PWD" "$PY" -c '
import importlib, inspect, pkgutil, benchmarks
from benchmarks.common import OpBenchmark
print("|".join(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
               if m.name.startswith("bench_") and any(
                   inspect.isclass(c) and issubclass(c, OpBenchmark) and c is not OpBenchmark
                   for c in vars(importlib.import_module("benchmarks." + m.name)).values())))')
OPS="^($OP_MODULES)\\."
ESTIMATORS="^(?!($OP_MODULES)\\.)"
echo "load before: $(cat /proc/loadavg)"
start=$SECONDS
if [[ " $* " =~ " --bench"|" -b " ]]; then
  BENCH_PREIMPORT=estimators "$ASV" run "${args[@]}" "$@"
else
  BENCH_PREIMPORT=estimators "$ASV" run "${args[@]}" --bench "$ESTIMATORS" "$@"
  BENCH_PREIMPORT=ops "$ASV" run "${args[@]}" --bench "$OPS" "$@"
fi
echo "suite: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
echo "load after:  $(cat /proc/loadavg)"
"$PY" scripts/bench_results.py normalize
bash scripts/bench_publish.sh
echo "Ratio table and chart: $PY -m benchmarks.report"
