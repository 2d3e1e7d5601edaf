#!/usr/bin/env bash
# Interop tests against software we did not write. Installs what it needs from the
# package registries (PyPI, npm) into throw-away places (target/, node_modules/); binds
# loopback only; stops what it started on exit.
#
# 1. PyJWT: mint a FRESH set of keys and tokens (RS*, PS*, ES256/384, EdDSA, HS*, plus
#    broken variants) and verify them with tollgate-core; the same for DPoP proofs
#    (tests/fixtures/pyjwt/gen_dpop.py, tests/tests/interop_pyjwt_dpop.rs).
# 2. npm jose: the same with jose 6 (ES256, RS256, PS256, EdDSA, broken variants).
# 3. panva's oidc-provider (npm) on 127.0.0.1: discovery, client_credentials tokens
#    (RFC 9068 JWTs) used against the axum-orders router, and a restart of the provider
#    with a new signing key while requests run (tests/tests/interop_oidc.rs); then
#    DPoP: tollgate-client gets DPoP-bound tokens from it (features.dPoP, nonces) and
#    calls axum-orders behind a DPoP-required gate (tests/tests/interop_oidc_dpop.rs).
# 4. a real Keycloak 26 (Maven Central, cached in ${TOLLGATE_CACHE:-$HOME/.cache/tollgate})
#    on 127.0.0.1: axum-orders with preset keycloak by discovery, roles, ID/refresh tokens
#    refused, key rotation under load (tests/tests/interop_keycloak.rs). On by default;
#    TOLLGATE_KEYCLOAK=0 skips it (with a loud SKIPPED line).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
t0=$(date +%s)
venv="$root/target/interop-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/fixtures/pyjwt/requirements.txt

out="$(mktemp -d)"
idp_pid=""
cleanup() {
    if [ -n "$idp_pid" ] && kill -0 "$idp_pid" 2>/dev/null; then
        kill "$idp_pid" 2>/dev/null || true
        wait "$idp_pid" 2>/dev/null || true
    fi
    rm -rf "$out"
}
trap cleanup EXIT INT TERM

keycloak="${TOLLGATE_KEYCLOAK:-1}"
case "$keycloak" in 0|1) ;; *) echo "TOLLGATE_KEYCLOAK must be 0 or 1, not '$keycloak'"; exit 2 ;; esac
kc_tests=()
[ "$keycloak" = 1 ] && kc_tests=(--test interop_keycloak)

# build the interop tests once, up front (the IdPs are started only when they are ready)
cargo test -p tollgate-tests --no-run --test pyjwt_interop --test interop_pyjwt_dpop \
    --test interop_jose --test interop_oidc --test interop_oidc_dpop \
    "${kc_tests[@]}" 2>&1 | tail -n 1

echo "== interop: PyJWT mints fresh tokens into $out/pyjwt"
mkdir -p "$out/pyjwt"
PYJWT_OUT="$out/pyjwt" "$venv/bin/python" tests/fixtures/pyjwt/gen.py | tail -n 1
echo "== interop: tollgate verifies them"
TOLLGATE_PYJWT_DIR="$out/pyjwt" cargo test -p tollgate-tests --test pyjwt_interop -- --nocapture
echo "== interop: PyJWT mints fresh DPoP proofs; tollgate verifies them (and refuses the broken ones)"
PYJWT_OUT="$out/pyjwt" "$venv/bin/python" tests/fixtures/pyjwt/gen_dpop.py | tail -n 1
TOLLGATE_PYJWT_DIR="$out/pyjwt" cargo test -p tollgate-tests --test interop_pyjwt_dpop -- --nocapture

echo "== interop: npm ci (jose, oidc-provider)"
npm ci --prefix tests/fixtures/jose --no-audit --no-fund --loglevel=error
npm ci --prefix tests/interop/oidc --no-audit --no-fund --loglevel=error

echo "== interop: jose mints fresh tokens into $out/jose"
JOSE_OUT="$out/jose" node tests/fixtures/jose/mint.mjs
echo "== interop: tollgate verifies them"
TOLLGATE_JOSE_DIR="$out/jose" cargo test -p tollgate-tests --test interop_jose -- --nocapture

echo "== interop: oidc-provider on loopback"
info="$out/oidc.json"
OIDC_INFO_FILE="$info" node tests/interop/oidc/provider.mjs >"$out/oidc.log" 2>&1 &
idp_pid=$!
for _ in $(seq 1 600); do
    [ -s "$info" ] && break
    if ! kill -0 "$idp_pid" 2>/dev/null; then
        echo "oidc-provider exited:"; cat "$out/oidc.log"; exit 1
    fi
    sleep 0.1
done
if [ ! -s "$info" ]; then
    echo "oidc-provider did not start within 60 s:"; cat "$out/oidc.log"; exit 1
fi
issuer="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).issuer)' "$info")"
control="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).control)' "$info")"
case "$issuer" in http://127.0.0.1:*) ;; *) echo "unexpected issuer $issuer"; exit 1 ;; esac
echo "issuer $issuer (control $control)"
if ! TOLLGATE_OIDC_ISSUER="$issuer" TOLLGATE_OIDC_CONTROL="$control" \
    cargo test -p tollgate-tests --test interop_oidc -- --nocapture; then
    echo "--- oidc-provider log"; cat "$out/oidc.log"; exit 1
fi
echo "== interop: DPoP-bound tokens from oidc-provider, used at a DPoP-required gate"
if ! TOLLGATE_OIDC_ISSUER="$issuer" cargo test -p tollgate-tests --test interop_oidc_dpop -- --nocapture; then
    echo "--- oidc-provider log"; cat "$out/oidc.log"; exit 1
fi

# --- a real Keycloak (tests/interop/keycloak/README.md). interop.sh fetches Keycloak
# with Maven into a cache outside the clone (reused by later runs), starts it on
# loopback, provisions realm `tollgate`, runs the test with KEYCLOAK_* in its
# environment and stops Keycloak again, whatever happens.
if [ "$keycloak" = 1 ]; then
    echo "== interop: Keycloak on loopback (TOLLGATE_KEYCLOAK=0 skips it)"
    kc_t0=$(date +%s)
    kc_status=0
    tests/interop/keycloak/interop.sh \
        cargo test -p tollgate-tests --test interop_keycloak -- --nocapture || kc_status=$?
    echo "== interop: Keycloak step took $(( $(date +%s) - kc_t0 )) s (fetch, start, provision, test, stop)"
    if [ "$kc_status" != 0 ]; then
        echo "== interop: Keycloak interop FAILED (exit $kc_status)"
        exit "$kc_status"
    fi
else
    echo "######################################################################"
    echo "## SKIPPED: Keycloak interop (TOLLGATE_KEYCLOAK=0). The real-Keycloak ##"
    echo "## tests (tests/tests/interop_keycloak.rs) did NOT run.              ##"
    echo "######################################################################"
fi
echo "== interop done in $(( $(date +%s) - t0 )) s"
