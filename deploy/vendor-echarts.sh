#!/usr/bin/env bash
# Re-fetches Apache ECharts from the npm registry and checks it, so the dashboard page
# needs nothing from the internet at load time (many government networks have none).
#
#   bash deploy/vendor-echarts.sh          # fetch, verify, copy into services/dashboard/static/
#   bash deploy/vendor-echarts.sh --check  # only verify the committed file against the pinned hash
set -euo pipefail
VERSION=6.1.0
# npm's own integrity of echarts-$VERSION.tgz (npm view echarts@$VERSION dist.integrity)
TARBALL_INTEGRITY="sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA=="
# sha256 of dist/echarts.min.js inside that tarball, checked against the committed copy
MIN_SHA256="b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=deploy/npm-pack-verified.sh
source "$HERE/deploy/npm-pack-verified.sh"
DEST="$HERE/services/dashboard/static/vendor"

vendor_from_npm "$DEST/echarts.min.js" "$MIN_SHA256" echarts "$VERSION" "$TARBALL_INTEGRITY" "${1:-}"
echo "$MIN_SHA256  $TMP/package/dist/echarts.min.js" | sha256sum -c - >/dev/null || {
  echo "dist/echarts.min.js hash differs from the pinned one" >&2; exit 1; }
mkdir -p "$DEST"
cp "$TMP/package/dist/echarts.min.js" "$DEST/echarts.min.js"
cp "$TMP/package/LICENSE" "$DEST/ECHARTS-LICENSE"
cp "$TMP/package/NOTICE" "$DEST/ECHARTS-NOTICE"
echo "echarts $VERSION vendored into $DEST"
