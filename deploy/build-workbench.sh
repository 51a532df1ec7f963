#!/usr/bin/env bash
# Builds the workbench's web app (services/workbench/web → dist/) from the committed
# package-lock.json (npm ci), only when the sources or the lockfile changed since the
# last build (a hash stamp in dist/). `deploy/test` and `ganxun up` run it.
#
#   bash deploy/build-workbench.sh           # build if missing or stale
#   bash deploy/build-workbench.sh --force   # build anyway
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
web="$root/services/workbench/web"
cd "$web"
command -v npm >/dev/null 2>&1 || {
  echo "缺少 Node.js/npm，无法构建工作台网页 (npm not found: install Debian's nodejs and npm)" >&2; exit 1; }
# Vite 8 needs Node.js ≥ 20.19 (these machines ship 20.x; Debian bookworm's own nodejs is 18):
# say so plainly instead of a stack trace from the build.
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
  echo "Node.js 版本过低（$(node --version)），构建工作台需要 Node.js ≥ 20.19 (Node.js >= 20.19 needed)" >&2; exit 1; }
want=$(cd "$web" && find index.html vite.config.js package.json package-lock.json src -type f -print0 \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
stamp=dist/.ganxun-build
if [ "${1:-}" != "--force" ] && [ -f dist/index.html ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "构建工作台网页 (building the workbench web app) …" >&2
# node_modules is reinstalled only when the lockfile changed (npm ci always wipes it).
lockhash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.ganxun-lock 2>/dev/null)" != "$lockhash" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lockhash" > node_modules/.ganxun-lock
fi
npx --no-install vite build --logLevel warn
echo "$want" > "$stamp"
