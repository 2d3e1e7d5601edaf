#!/usr/bin/env bash
# Stop the Keycloak that start.sh started (by the pid in the state file; its process
# group holds kc.sh and its java child). Idempotent: no state, nothing to do.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

[ -s "$KC_STATE" ] || { kc_log "nothing to stop (no $KC_STATE)"; exit 0; }
pid="$(sed -n 's/^KEYCLOAK_PID=//p' "$KC_STATE")"
case "$pid" in ''|*[!0-9]*) rm -f "$KC_STATE"; kc_die "state file had no pid" ;; esac
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || pgrep -g "$pid" >/dev/null 2>&1 || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null || pgrep -g "$pid" >/dev/null 2>&1; then
        kc_log "pid $pid still alive after 10 s: SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    kc_log "stopped pid $pid"
else
    kc_log "pid $pid was not running"
fi
rm -f "$KC_STATE" "$KC_STATE_DIR/realm.env"
