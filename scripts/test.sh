#!/usr/bin/env bash
# The whole test suite: installs what is missing (build tools, redis-server, the tansu Kafka-protocol
# broker, a Python venv with kafka-python, Prometheus' promtool, systemd-analyze, stunnel, Chromium with playwright-core, buildah and podman), then runs formatting and lint checks and every test —
# unit, property and end-to-end tests against real brokers and Redis started on free loopback ports.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -- kafka::      # extra arguments go to the test binaries (a filter, say)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_build_deps
ensure_redis_server
ensure_tansu
ensure_test_venv
ensure_promtool
ensure_systemd_analyze
ensure_stunnel
ensure_chromium
ensure_playwright
ensure_container_tools

log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
log "cargo test"
cargo test --workspace "$@"
