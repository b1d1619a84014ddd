#!/usr/bin/env bash
# Builds the torch-rs distribution (release) into the project's .venv. It links the libtorch of
# the installed torch (LIBTORCH_USE_PYTORCH=1), so torch must already be installed there.
# A re-run with nothing changed only re-installs the already built module.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/rust_plugins/target}"
export VIRTUAL_ENV="$repo/.venv"
# torch-sys and our build script run `python` from PATH to locate torch's headers and libraries.
export PATH="$VIRTUAL_ENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
unset LIBTORCH LIBTORCH_INCLUDE LIBTORCH_LIB LIBTORCH_BYPASS_VERSION_CHECK
cd "$repo/rust_plugins/torch_ops"
"$VIRTUAL_ENV/bin/maturin" develop --release --quiet
