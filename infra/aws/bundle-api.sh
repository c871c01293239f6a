#!/usr/bin/env bash
# Builds the API Lambda bundle into $1: dist/{api,core,store}, openapi/ and production
# node_modules without @tensorflow/* (the API never imports it), mirroring the Dockerfile's `api`
# target. Runs in a scratch copy so the caller's node_modules is never touched. Used by the CDK
# stack's local bundling and, when that is unavailable, inside the Lambda Node.js build image.
set -euo pipefail
out="$(cd "$1" && pwd)"
src="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export npm_config_cache="${npm_config_cache:-$work/.npm-cache}"

cp "$src/package.json" "$src/package-lock.json" "$src/tsconfig.json" "$src/tsconfig.build.json" "$work/"
for dir in core api worker store cli openapi; do
  if [ -d "$src/$dir" ]; then cp -R "$src/$dir" "$work/$dir"; fi
done
(cd "$work" && npm ci --ignore-scripts --no-fund --no-audit && npm run build)

mkdir -p "$out/dist"
cp -R "$work/dist/api" "$work/dist/core" "$work/dist/store" "$out/dist/"
cp -R "$work/openapi" "$out/openapi"
cp "$work/package.json" "$work/package-lock.json" "$out/"
(cd "$out" && npm ci --omit=dev --omit=optional --ignore-scripts --no-fund --no-audit \
  && rm -rf node_modules/@tensorflow package-lock.json)
