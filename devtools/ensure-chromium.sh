#!/usr/bin/env bash
# Make sure Debian's headless Chromium is here (/usr/bin/chromium): the tests of the
# certificate verification page open it as a person's browser would. Installs it when
# missing and run as root (apt-get); otherwise says what to install. Exit 0 when
# Chromium is there at the end, 1 when it is not.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
# Without recommends (they bring a desktop: upower, printer setup, notification daemon);
# a font of its own so that screenshots show text on images that have none.
PACKAGES=(chromium chromium-driver fonts-dejavu-core)

log() { echo "[ensure-chromium] $*"; }

if [ -x "$CHROMIUM" ]; then
  log "present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "$CHROMIUM is missing; as root, run: apt-get install -y ${PACKAGES[*]}"
  log "(without it the browser tests of the verification page are skipped)"
  exit 1
fi

log "installing ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent (a slim image) or stale (a removed version): refresh
# them first, once.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

if [ -x "$CHROMIUM" ]; then
  log "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
  log "apt-get finished but $CHROMIUM is still missing"
  exit 1
fi
