#!/usr/bin/env bash
# Re-fetches Swagger UI (swagger-ui-dist) from the npm registry and checks it, so every
# service's /docs page loads its script and style from the service itself: an intranet
# without internet access shows the page instead of a blank one (FastAPI's default /docs
# loads them from a CDN).
#
#   bash deploy/vendor-swagger-ui.sh          # fetch, verify, copy into shared/static/swagger-ui/
#   bash deploy/vendor-swagger-ui.sh --check  # only verify the committed files against the pinned hashes
set -euo pipefail
VERSION=5.32.0
# npm's own integrity of swagger-ui-dist-$VERSION.tgz (npm view swagger-ui-dist@$VERSION dist.integrity)
TARBALL_INTEGRITY="sha512-nKZB0OuDvacB0s/lC2gbge+RigYvGRGpLLMWMFxaTUwfM+CfndVk9Th2IaTinqXiz6Mn26GK2zriCpv6/+5m3Q=="
# sha256 of the two files inside that tarball, checked against the committed copies
BUNDLE_SHA256="d9bbb469128e88a974c78e76457c3910babb4649447d901af19a60335a09ee1e"
CSS_SHA256="b024df29b02b4943bf95cb835fce9d19d4559c14e374b0dd36a89b27a223a2da"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=deploy/npm-pack-verified.sh
source "$HERE/deploy/npm-pack-verified.sh"
DEST="$HERE/shared/static/swagger-ui"

if [[ "${1:-}" == "--check" ]]; then
  echo "$CSS_SHA256  $DEST/swagger-ui.css" | sha256sum -c -
fi
vendor_from_npm "$DEST/swagger-ui-bundle.js" "$BUNDLE_SHA256" swagger-ui-dist "$VERSION" "$TARBALL_INTEGRITY" \
  "${1:-}"
for pair in "swagger-ui-bundle.js:$BUNDLE_SHA256" "swagger-ui.css:$CSS_SHA256"; do
  echo "${pair#*:}  $TMP/package/${pair%%:*}" | sha256sum -c - >/dev/null || {
    echo "${pair%%:*} hash differs from the pinned one" >&2; exit 1; }
done
mkdir -p "$DEST"
cp "$TMP/package/swagger-ui-bundle.js" "$TMP/package/swagger-ui.css" "$DEST/"
cp "$TMP/package/LICENSE" "$DEST/SWAGGER-UI-LICENSE"
cp "$TMP/package/NOTICE" "$DEST/SWAGGER-UI-NOTICE"
echo "swagger-ui-dist $VERSION vendored into $DEST"
