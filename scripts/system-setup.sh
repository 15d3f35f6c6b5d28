#!/usr/bin/env bash
# Install the system packages some tests use: headless Chromium (report check).
# Needs root (apt-get). Safe to run twice.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "system-setup: not root, skipping apt packages"; exit 0; fi
need=()
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "system-setup: chromium=$(command -v chromium || echo missing)"
