#!/usr/bin/env bash
# Installs Debian's Chromium (chromium, chromium-driver) for the browser test when it is
# missing. Playwright drives this browser through executable_path; it never downloads one.
# Safe to run again: it does nothing when chromium is already on PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "install_chromium: installing chromium and chromium-driver from Debian" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install_chromium: chromium is still not on PATH" >&2; exit 1; }
