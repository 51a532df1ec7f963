#!/usr/bin/env bash
# Creates .venv at the repository root from requirements.lock (hashes checked) and
# installs the project into it. Idempotent: does nothing when the lock is unchanged.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py=${GANXUN_PYTHON:-python3.11}
command -v "$py" >/dev/null 2>&1 || py=python3
"$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "需要 Python 3.11 (needs Python 3.11; found $("$py" --version 2>&1))" >&2; exit 1; }
stamp=.venv/.ganxun-lock
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/ganxun ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
