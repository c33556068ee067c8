#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent), then runs every
# test of the workspace. The build directory lives outside the clone so that
# repeated runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/toolpulse-target}"
# The executables each build reports (their inodes: a binary's copy under
# deps/ is the same file as target/debug/<name>).
built() { sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | xargs -r stat -c %i; }
current=$(cargo build --locked --workspace --bins --message-format=json-render-diagnostics | built)
current+=$'\n'$(cargo test --locked --workspace --no-run --message-format=json-render-diagnostics | built)
# Cargo never deletes the executables of earlier builds (up to 0.7 GB each): a
# reused build directory fills the disk within a day of edits. Keep the current ones.
if [ -n "${current//[[:space:]]/}" ]; then
  find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f -perm -u+x \
    ! -name '*.so' ! -name '*.rlib' ! -name '*.rmeta' ! -name '*.d' -printf '%i %p\n' |
    awk 'NR == FNR { keep[$1]; next } !($1 in keep) { print $2 }' <(printf '%s\n' "$current") - | xargs -r rm -f
fi
cargo test --locked --workspace --no-fail-fast "$@"
