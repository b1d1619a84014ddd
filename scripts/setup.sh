#!/usr/bin/env bash
# Creates .venv, installs the pinned Python dependencies and builds both native modules
# (release mode) into it. Re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/rust_plugins/target}"

if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv
fi
PY=.venv/bin/python
# pip's own cache keeps the 3 GB torch wheel; an already-satisfied pin is not reinstalled.
$PY -m pip install --quiet --upgrade pip
$PY -m pip install --quiet -r requirements/dev.txt

# sklearn-rs: the root pyproject.toml (numpy + scikit-learn only).
VIRTUAL_ENV=$PWD/.venv .venv/bin/maturin develop --release --quiet

# torch-rs: links the installed torch's libtorch through the tch crate.
bash scripts/build_torch_rs.sh
