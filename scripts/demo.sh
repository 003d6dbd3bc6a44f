#!/usr/bin/env bash
# Sets up and runs driftd on the embedded default: the bundled sample events, embedded state,
# no external service. Prints what driftd processed. Extra arguments go to `driftd run`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_build_deps
log "building driftd"
cargo build --quiet -p driftd
state_dir="$(mktemp -d)"
trap 'rm -rf "$state_dir"' EXIT
log "driftd run --events tests/data/sample-events.jsonl (state in $state_dir)"
target/debug/driftd run --events tests/data/sample-events.jsonl --state "$state_dir/state.redb" \
  --listen 127.0.0.1:0 "$@"
