#!/usr/bin/env bash
# Installs what the glTF tests run: the Khronos glTF-Validator (npm gltf-validator, the version pinned
# in .tools/package.json and .tools/package-lock.json) into .tools/node_modules (gitignored), and
# Node.js itself (Debian's nodejs + npm, with apt-get) when `node` is missing. Non-interactive and
# idempotent; apt-get runs as root, or through sudo when not root.
# scripts/validate-gltf.js runs the validator on a file.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
    echo "install-gltf-validator: not root, using sudo"
  else
    echo "install-gltf-validator: node/npm are missing and I am not root and have no sudo: run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends nodejs npm" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-gltf-validator: apt-get not found: install Node.js (with npm) by your system's means" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "install-gltf-validator: apt-get install nodejs npm"
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends nodejs npm
fi

want="$(node -p "require('$here/.tools/package.json').dependencies['gltf-validator']")"
have="$(node -p "try { require('$here/.tools/node_modules/gltf-validator/package.json').version } catch (e) { '' }")"
if [ "$have" = "$want" ]; then
  echo "install-gltf-validator: gltf-validator $have is already installed in .tools/node_modules"
  exit 0
fi
echo "install-gltf-validator: npm ci (gltf-validator $want) in .tools"
(cd "$here/.tools" && npm ci --no-audit --no-fund --silent)
echo "install-gltf-validator: installed gltf-validator $(node -p "require('$here/.tools/node_modules/gltf-validator/package.json').version")"
