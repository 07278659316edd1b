#!/usr/bin/env bash
# Rebuilds src/umo/preview/assets/three.min.js: three.js from the npm registry (MIT, licence beside
# the file), bundled by esbuild into one minified script that defines the global THREE, so that
# preview.html can inline it and work offline. Run by hand when upgrading three.js; not part of setup.
set -euo pipefail
VERSION="${1:-0.187.0}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm install --no-save --silent "three@$VERSION" esbuild@0.28.2 >/dev/null
echo "export * from 'three';" > entry.js
./node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --global-name=THREE \
  --outfile="$here/src/umo/preview/assets/three.min.js"
cp node_modules/three/LICENSE "$here/src/umo/preview/assets/THREE_LICENSE.txt"
echo "three.js $VERSION vendored"
