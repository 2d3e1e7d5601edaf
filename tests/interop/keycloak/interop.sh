#!/usr/bin/env bash
# One Keycloak interop run: fetch (cached), start on loopback, provision realm
# `tollgate`, run a command with the realm's KEY=value lines in its environment, stop.
#
#   interop.sh [COMMAND ARGS...]
#
# COMMAND defaults to `python3 kc_admin.py check` (the token/JWKS shape checks). The
# command sees KEYCLOAK_* from start.sh and provision.sh (see README.md) plus
# KEYCLOAK_STATE (state file) and KEYCLOAK_ROTATE (path of rotate.sh). Keycloak is
# stopped whatever happens; its log is printed when something failed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

t0=$(date +%s)
own_state=""
if [ -z "${TOLLGATE_KEYCLOAK_STATE_DIR:-}" ]; then
    own_state="$(mktemp -d)"
    export TOLLGATE_KEYCLOAK_STATE_DIR="$own_state"
    KC_STATE_DIR="$own_state"; KC_STATE="$own_state/state.env"
fi
started=0
status=1
finish() {
    if [ "$started" = 1 ]; then
        if [ "$status" != 0 ] && [ -s "$KC_STATE_DIR/keycloak.log" ]; then
            echo "--- keycloak log (tail)" >&2; tail -n 40 "$KC_STATE_DIR/keycloak.log" >&2
        fi
        "$here/stop.sh" || true
    fi
    [ -n "$own_state" ] && rm -rf "$own_state"
}
trap finish EXIT
trap 'exit 1' INT TERM

"$here/fetch.sh" >/dev/null
started=1
"$here/start.sh" >/dev/null
"$here/provision.sh" >/dev/null
set -a
. "$KC_STATE"
. "$KC_STATE_DIR/realm.env"
set +a
export KEYCLOAK_STATE="$KC_STATE" KEYCLOAK_ROTATE="$here/rotate.sh" KC_STATE
kc_log "Keycloak $KEYCLOAK_VERSION up at $KEYCLOAK_URL (start ${KEYCLOAK_START_SECONDS} s, provision ${KEYCLOAK_PROVISION_SECONDS} s)"
if [ "$#" -eq 0 ]; then
    set -- python3 "$here/kc_admin.py" check
fi
"$@"
status=0
kc_log "interop run done in $(( $(date +%s) - t0 )) s"
