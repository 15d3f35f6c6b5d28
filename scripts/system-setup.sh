#!/usr/bin/env bash
# Install the system parts some tests use: headless Chromium (report check),
# Prometheus (a real server scrapes a run's /metrics) and a Docker engine with
# the loadkit images (docker tests, docker fault backend).
# Needs root (apt-get). Safe to run twice. Best effort: what cannot be set up is
# reported, and the tests that need it skip with the reason.
# LOADKIT_SKIP_DOCKER=1 skips the Docker part.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "system-setup: not root, skipping apt packages"; exit 0; fi
start=$(date +%s)
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v prometheus >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq || true
  for package in "${need[@]}"; do  # one at a time: one missing package does not block the other
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
      || echo "system-setup: could not install $package; the tests that need it will skip"
  done
  # the tests start their own Prometheus on a free loopback port: no system service on :9090
  if [[ " ${need[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
echo "system-setup: chromium=$(command -v chromium || echo missing)" \
  "prometheus=$(command -v prometheus || echo missing) ($(( $(date +%s) - start ))s)"

if [ "${LOADKIT_SKIP_DOCKER:-0}" != 1 ]; then
  start=$(date +%s)
  # Bounded: on a fresh machine this takes about 3-4 minutes (apt, debootstrap, wheels, build); capped at 12.
  if timeout 720 bash "$(dirname "$0")/docker-setup.sh"; then
    echo "system-setup: docker ready ($(( $(date +%s) - start ))s)"
  else
    echo "system-setup: docker setup incomplete after $(( $(date +%s) - start ))s; docker tests will skip"
  fi
fi
