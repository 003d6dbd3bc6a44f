#!/usr/bin/env bash
# Builds driftd's container image from the Dockerfile without a Docker engine (buildah, from
# Debian's packages) and runs it (podman), for the test suite and for machines without Docker.
#
#   scripts/container.sh build [BINARY] [TAG]   # the image; BINARY: a driftd built for Debian
#                                               # bookworm (default: compile it in the build stage)
#   scripts/container.sh run TAG NAME [ARGS...] # start it detached, host network (podman run ARGS)
#   scripts/container.sh logs NAME | stop NAME | size TAG | podman ARGS... (this storage)
#
# No image is pulled: the Debian base is made locally with debootstrap (minbase, bookworm) and
# kept, with buildah's and podman's storage, under $DRIFTD_CONTAINER_DIR (default
# ~/.cache/driftd-container); it is made again whenever it is missing. The Dockerfile's runtime
# stage installs its libraries from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

W="${DRIFTD_CONTAINER_DIR:-$HOME/.cache/driftd-container}"
ST=(--root "$W/storage" --runroot "$W/runroot" --storage-driver overlay)
BASE=localhost/driftd-debian:bookworm-slim

# The local Debian base image (what `debian:bookworm-slim` is, made here).
ensure_base() {
  if buildah "${ST[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then return; fi
  log "making the Debian bookworm base image with debootstrap (once, about a minute)"
  mkdir -p "$W"
  rm -rf "$W/rootfs"
  $SUDO debootstrap --variant=minbase bookworm "$W/rootfs" >"$W/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $W/debootstrap.log"
  $SUDO rm -rf "$W"/rootfs/var/cache/apt/archives/*.deb "$W"/rootfs/var/lib/apt/lists/*
  $SUDO tar --numeric-owner --xattrs -C "$W/rootfs" -cf "$W/rootfs.tar" .
  local c
  c=$(buildah "${ST[@]}" from scratch)
  buildah "${ST[@]}" add "$c" "$W/rootfs.tar" / >/dev/null
  buildah "${ST[@]}" config --cmd /bin/bash \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  buildah "${ST[@]}" commit -q --rm "$c" "$BASE" >/dev/null
  $SUDO rm -rf "$W/rootfs" "$W/rootfs.tar"
}

build() {
  local binary="${1:-}" tag="${2:-localhost/driftd:dev}"
  ensure_container_tools
  ensure_base
  local ctx
  ctx=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" RETURN
  local args=(--build-arg "RUNTIME_IMAGE=$BASE")
  if [ -n "$binary" ]; then
    # The context holds what the runtime stage copies: the binary (without its debug sections)
    # and the configuration.
    cp Dockerfile .dockerignore "$ctx/"
    mkdir -p "$ctx/config" && cp config/container.toml "$ctx/config/"
    objcopy --strip-debug "$binary" "$ctx/driftd"
    args+=(--build-arg BINARY_FROM=prebuilt)
  else
    ctx=.
  fi
  log "building $tag with buildah"
  buildah "${ST[@]}" build -q --isolation chroot --pull=never "${args[@]}" -t "$tag" -f Dockerfile "$ctx" >/dev/null
  # What the build leaves: its stages' working containers, and earlier builds of the tag, now
  # untagged (the base image stays).
  buildah "${ST[@]}" rm --all >/dev/null 2>&1 || true
  buildah "${ST[@]}" rmi --prune >/dev/null 2>&1 || true
  echo "$tag"
}

run() {
  local tag="$1" name="$2"
  shift 2
  ensure_container_tools
  podman "${ST[@]}" rm -f "$name" >/dev/null 2>&1 || true
  # runc (crun refuses hybrid cgroup hosts), fixed rlimits (raising them is refused to containers
  # here), an init that forwards SIGTERM, and the host's network (the test talks to loopback).
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536
  # Threads of the container's user: the daemon needs a few dozen; the host's own limit (all of
  # its users' processes) is refused to a container here.
  nproc=4096
  podman "${ST[@]}" run -d --name "$name" --init --network host --runtime runc \
    --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" "$@" "$tag"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  logs) podman "${ST[@]}" logs "$2" ;;
  stop) podman "${ST[@]}" stop -t 15 "$2" >/dev/null && podman "${ST[@]}" rm "$2" >/dev/null ;;
  podman) shift; podman "${ST[@]}" "$@" ;;
  size) podman "${ST[@]}" image inspect --format '{{.Size}}' "$2" ;;
  *) die "usage: scripts/container.sh build [BINARY] [TAG] | run TAG NAME [ARGS...] | logs NAME | stop NAME | size TAG | podman ARGS..." ;;
esac
