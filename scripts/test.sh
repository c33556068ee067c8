#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent), then runs every
# test of the workspace. The build directory lives outside the clone so that
# repeated runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/toolpulse-target}"
# Cargo never deletes old test executables (about 1 GB each with debug info);
# drop the ones a previous run left behind so a reused build directory does
# not fill the disk. Anything still current is simply relinked.
if [ -d "$CARGO_TARGET_DIR/debug/deps" ]; then
  find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f -perm -u+x -mtime +2 \
    ! -name '*.so' ! -name '*.rlib' ! -name '*.rmeta' ! -name '*.d' -delete
fi
cargo build --locked --workspace --bins
cargo test --locked --workspace --no-fail-fast "$@"
