#!/usr/bin/env bash
# Interop tests against software we did not write. Installs what it needs from the
# package registries (PyPI here) into a throw-away virtualenv under target/.
#
# 1. PyJWT: mint a FRESH set of keys and tokens (RS*, PS*, ES256/384, EdDSA, HS*, plus
#    broken variants) and verify them with tollgate-core.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
venv="$root/target/interop-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/fixtures/pyjwt/requirements.txt

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "== interop: PyJWT mints fresh tokens into $out"
PYJWT_OUT="$out" "$venv/bin/python" tests/fixtures/pyjwt/gen.py | tail -n 1
echo "== interop: tollgate verifies them"
TOLLGATE_PYJWT_DIR="$out" cargo test -p tollgate-tests --test pyjwt_interop -- --nocapture
