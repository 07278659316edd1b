#!/usr/bin/env bash
# Installs the browser the preview tests drive: Debian's chromium (and chromium-driver) with apt-get,
# when /usr/bin/chromium is missing. Non-interactive and idempotent; runs apt-get as root, or through
# sudo when not root. Playwright drives this system browser: never run `playwright install`.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  echo "install-browser: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
  echo "install-browser: not root, using sudo"
else
  echo "install-browser: $CHROMIUM is missing and I am not root and have no sudo: run as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: apt-get not found: install Chromium so that $CHROMIUM exists, by your system's means" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: apt-get update"
"${SUDO[@]}" apt-get update -q
echo "install-browser: apt-get install chromium chromium-driver"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver
if [ ! -x "$CHROMIUM" ]; then
  echo "install-browser: the packages installed but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
