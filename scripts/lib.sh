# Shared helpers for driftd's scripts: install what is missing, never what is there.
# shellcheck shell=bash

TANSU_VERSION="0.6.0"
KAFKA_PYTHON_VERSION="3.0.12"
AIOSMTPD_VERSION="1.4.6"
# The HTTP contract fuzzer of tests/e2e/openapi.rs (checks and CLI options of the 4.x line).
SCHEMATHESIS_VERSION="4.32.5"
# Reads compose.yaml as a compose implementation does (interpolation, dependency conditions) for
# tests/e2e/container.rs; there is no Docker engine to ask.
PODMAN_COMPOSE_VERSION="1.6.0"
# Drives Debian's Chromium for the review page's test (tests/tools/review_page.cjs); the core
# package downloads no browser.
PLAYWRIGHT_VERSION="1.65.2"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""

apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* with your package manager"
  if [ -z "$APT_UPDATED" ]; then
    $SUDO apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "installing $* (Debian packages)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

# Rust toolchain and what rdkafka's bundled librdkafka build needs (gcc, make, pkg-config, zlib,
# OpenSSL, libcurl).
ensure_build_deps() {
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup) first"
  local missing=()
  command -v cc >/dev/null || missing+=(gcc)
  command -v make >/dev/null || missing+=(make)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if ! { [ -e /usr/include/zlib.h ] || pkg-config --exists zlib 2>/dev/null; }; then missing+=(zlib1g-dev); fi
  # librdkafka with TLS and SCRAM (OpenSSL) and OAUTHBEARER/OIDC (libcurl).
  pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
  pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# systemd's tools, to verify the units and measure their exposure (`systemd-analyze`).
ensure_systemd_analyze() {
  command -v systemd-analyze >/dev/null || apt_install systemd
}

ensure_redis_server() {
  command -v redis-server >/dev/null || apt_install redis-server
}

# The Kafka-protocol broker for tests. Building it takes 15-25 minutes on 2 cores, so it is
# installed once into ~/.cargo/bin and reused.
ensure_tansu() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    return
  fi
  log "building the tansu broker $TANSU_VERSION (one time, 15-25 minutes)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql >&2
}

# A Python venv with the third-party Kafka client, the SMTP server and the HTTP contract fuzzer
# (schemathesis, at the pinned version: the tests use its CLI options) the tests use.
ensure_test_venv() {
  local venv=".testbed/venv"
  if [ -x "$venv/bin/python" ] && [ -x "$venv/bin/schemathesis" ] && "$venv/bin/python" -c "
import importlib.metadata, kafka, aiosmtpd, yaml
assert importlib.metadata.version('schemathesis') == '$SCHEMATHESIS_VERSION'
assert importlib.metadata.version('podman-compose') == '$PODMAN_COMPOSE_VERSION'" 2>/dev/null; then
    return
  fi
  command -v python3 >/dev/null || apt_install python3
  if ! python3 -m venv --help >/dev/null 2>&1; then apt_install python3-venv; fi
  # A venv whose interpreter works is completed in place; a broken one is made anew.
  if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "pass" 2>/dev/null; }; then
    log "creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || { apt_install python3-venv; python3 -m venv "$venv"; }
  fi
  log "installing kafka-python $KAFKA_PYTHON_VERSION, aiosmtpd $AIOSMTPD_VERSION, schemathesis $SCHEMATHESIS_VERSION and podman-compose $PODMAN_COMPOSE_VERSION into $venv"
  "$venv/bin/pip" install -q "kafka-python==$KAFKA_PYTHON_VERSION" "aiosmtpd==$AIOSMTPD_VERSION" \
    "schemathesis==$SCHEMATHESIS_VERSION" "podman-compose==$PODMAN_COMPOSE_VERSION" pyyaml >&2
}

# Prometheus' own tools, to check the alert rules and the dashboard's queries (Debian's package).
ensure_promtool() {
  if ! command -v promtool >/dev/null; then
    apt_install prometheus
    # The package enables a system service; the tests start their own instances.
    if command -v systemctl >/dev/null; then $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  fi
}

# A daemonless image builder and runner for the container image's test (buildah, podman, runc;
# debootstrap makes the Debian base image locally): see scripts/container.sh.
ensure_container_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# Playwright's client library (playwright-core from the npm registry) in .testbed/node.
ensure_playwright() {
  command -v npm >/dev/null || apt_install nodejs npm
  local dir=".testbed/node"
  if [ -f "$dir/node_modules/playwright-core/package.json" ] \
    && grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$dir/node_modules/playwright-core/package.json"; then
    return
  fi
  mkdir -p "$dir"
  log "installing playwright-core $PLAYWRIGHT_VERSION into $dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION" >&2
}

# A real browser for the HTML report tests: Debian's Chromium, run headless.
ensure_chromium() {
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || apt_install chromium
}

# A TLS terminator for the Kafka TLS tests: tansu 0.6 takes --cert/--key but does not use them, so
# the tests put stunnel (Debian's package) in front of it, as a TLS-terminating proxy would be.
ensure_stunnel() {
  command -v stunnel >/dev/null || apt_install stunnel4
}
