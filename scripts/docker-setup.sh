#!/usr/bin/env bash
# Set up a Docker engine and the loadkit images on this machine. Idempotent:
# every step checks first and is skipped when already done.
#
#   1. apt-get install docker.io, docker-compose, debootstrap (if missing)
#   2. start dockerd --bridge=none --iptables=false in the background (if not running)
#   3. image loadkit-base: a minimal Debian (debootstrap minbase + python3 + python3-venv)
#      from the same mirror apt uses, imported with `docker import` (if missing)
#   4. wheels/ built on the host with `pip wheel`, then image loadkit
#      (Dockerfile with BASE_IMAGE=loadkit-base, installs from wheels/ with --no-index)
#
# Containers use host networking only (network_mode: host); the engine gets no
# bridge network and touches no iptables. Needs root. Prints the seconds each
# step took. The loadkit image is rebuilt when its sources changed;
# LOADKIT_DOCKER_REBUILD=1 forces it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUITE=${LOADKIT_DEBIAN_SUITE:-bookworm}
STATE_DIR=${LOADKIT_STATE_DIR:-$ROOT/.loadkit}
mkdir -p "$STATE_DIR"

log() { echo "docker-setup: $*"; }
step_start=$(date +%s)
step_done() {
  local now
  now=$(date +%s)
  log "$1 done in $((now - step_start))s"
  step_start=$now
}

if [ "$(id -u)" != 0 ]; then
  log "not root, skipping (a Docker engine needs root here)"
  exit 0
fi

# 1. packages ----------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  need+=(docker-compose)
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
step_done "packages"

# 2. engine ------------------------------------------------------------------
start_dockerd() {  # $@: extra dockerd flags; returns 0 once the engine answers
  log "starting dockerd $* (log: $STATE_DIR/dockerd.log)"
  setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false "$@" \
    >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null || break
    sleep 1
  done
  log "dockerd did not come up; last log lines:"
  tail -n 5 "$STATE_DIR/dockerd.log" || true
  kill "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null || true
  return 1
}
if ! docker info >/dev/null 2>&1; then
  if [ -n "${LOADKIT_DOCKER_STORAGE:-}" ]; then
    start_dockerd --storage-driver "$LOADKIT_DOCKER_STORAGE" || exit 1
  else
    # overlay2 needs a filesystem that supports it; vfs works everywhere (slower, bigger).
    start_dockerd || { sleep 2; start_dockerd --storage-driver vfs; } || exit 1
  fi
fi
step_done "engine ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"

# 3. base image --------------------------------------------------------------
if ! docker image inspect loadkit-base >/dev/null 2>&1; then
  mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | head -n 1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d /tmp/loadkit-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $SUITE from $mirror"
  debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$rootfs" "$mirror" \
    >"$STATE_DIR/debootstrap.log" 2>&1 || { tail -n 5 "$STATE_DIR/debootstrap.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - loadkit-base >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi
step_done "base image loadkit-base"

# 4. wheels + loadkit image --------------------------------------------------
# The image is rebuilt when the sources it holds changed (label loadkit.src).
src_hash=$(find pyproject.toml README.md Dockerfile loadkit locustfiles scenarios -type f \
  ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)
have_hash=$(docker image inspect loadkit --format '{{index .Config.Labels "loadkit.src"}}' 2>/dev/null || true)
if [ "${LOADKIT_DOCKER_REBUILD:-0}" = 1 ] || [ "$have_hash" != "$src_hash" ]; then
  # The wheels must match the base image's Python (Debian's python3).
  base_py=$(docker run --rm --network host loadkit-base python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  py=""
  for candidate in "${PYTHON:-}" "$ROOT/.venv/bin/python" python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    v=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$v" = "$base_py" ]; then py=$candidate; break; fi
  done
  if [ -z "$py" ]; then
    log "no host python $base_py to build wheels with"
    exit 1
  fi
  build_venv="$STATE_DIR/wheel-venv"
  [ -x "$build_venv/bin/pip" ] || "$py" -m venv "$build_venv"
  "$build_venv/bin/python" -c 'import wheel' 2>/dev/null \
    || "$build_venv/bin/pip" install -q wheel 'setuptools>=68' >/dev/null 2>&1 || true
  mkdir -p wheels && rm -f wheels/loadkit-*.whl  # dependencies' wheels are reused
  log "pip wheel (python $base_py) into wheels/"
  # Offline first (every dependency already in wheels/), else from the index.
  "$build_venv/bin/pip" wheel -q --wheel-dir wheels --find-links wheels --no-index \
    --no-build-isolation . >"$STATE_DIR/pip-wheel.log" 2>&1 \
    || "$build_venv/bin/pip" wheel -q --wheel-dir wheels --find-links wheels . \
      >>"$STATE_DIR/pip-wheel.log" 2>&1 \
    || { tail -n 5 "$STATE_DIR/pip-wheel.log"; exit 1; }
  step_done "wheels ($(ls wheels | wc -l) files)"
  old=$(docker image inspect loadkit --format '{{.Id}}' 2>/dev/null || true)
  docker build -q --network host --build-arg BASE_IMAGE=loadkit-base \
    --label "loadkit.src=$src_hash" -t loadkit . >"$STATE_DIR/docker-build.log" 2>&1 \
    || { tail -n 5 "$STATE_DIR/docker-build.log"; exit 1; }
  new=$(docker image inspect loadkit --format '{{.Id}}')
  if [ -n "$old" ] && [ "$old" != "$new" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
fi
step_done "image loadkit"
log "ready: $(docker image inspect loadkit --format '{{.Id}}' | cut -c1-19)"
