#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent), then runs every
# test of the workspace. The build directory lives outside the clone so that
# repeated runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/toolpulse-target}"
cargo build --locked --workspace --bins
cargo test --locked --workspace --no-fail-fast "$@"
