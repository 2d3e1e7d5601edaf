#!/usr/bin/env bash
# Start a throw-away Keycloak (`kc.sh start-dev`, in-memory database) on 127.0.0.1 on a
# free port, wait until /health/ready answers UP, and describe it in a state file.
#
#   TOLLGATE_CACHE                    cache root (default $HOME/.cache/tollgate)
#   TOLLGATE_KEYCLOAK_VERSION         Keycloak version (default in common.sh)
#   TOLLGATE_KEYCLOAK_JAVA_HOME       JDK to use (default: newest of 25/21/17 under /usr/lib/jvm)
#   TOLLGATE_KEYCLOAK_STATE_DIR       where state.env and keycloak.log go (default <cache>/keycloak/run)
#   TOLLGATE_KEYCLOAK_START_TIMEOUT   seconds to wait for readiness (default 180)
#
# On success prints (and writes to $state_dir/state.env) KEY=value lines:
#   KEYCLOAK_URL, KEYCLOAK_PID, KEYCLOAK_LOG, KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD,
#   KEYCLOAK_HOME, KEYCLOAK_VERSION, KEYCLOAK_JAVA_HOME, KEYCLOAK_START_SECONDS
# Stop it with stop.sh. The database is in memory: every start is a fresh server, so
# run provision.sh after each start.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

command -v python3 >/dev/null || kc_die "python3 not found"
command -v curl >/dev/null || kc_die "curl not found"

# refuse to start a second one over a live one
if [ -s "$KC_STATE" ]; then
    old_pid="$(sed -n 's/^KEYCLOAK_PID=//p' "$KC_STATE")"
    if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
        kc_die "a Keycloak started by these scripts is still running (pid $old_pid, $KC_STATE); run stop.sh first"
    fi
    rm -f "$KC_STATE"
fi

"$here/fetch.sh" >/dev/null

# --- JDK: Keycloak 26 supports OpenJDK 17, 21 and 25; take the newest of those.
java_major() { # $1 = JAVA_HOME; prints the feature version or nothing
    local v
    v="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null || true)"
    if [ -z "$v" ] && [ -x "$1/bin/java" ]; then
        v="$("$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')"
    fi
    echo "$v"
}
java_home="${TOLLGATE_KEYCLOAK_JAVA_HOME:-}"
if [ -z "$java_home" ]; then
    best=0
    for d in /usr/lib/jvm/*/; do
        d="${d%/}"
        [ -L "$d" ] && continue
        [ -x "$d/bin/java" ] || continue
        m="$(java_major "$d")"
        case "$m" in 17|21|25) ;; *) continue ;; esac
        if [ "$m" -gt "$best" ]; then best="$m"; java_home="$d"; fi
    done
    [ -n "$java_home" ] || kc_die "no JDK 17, 21 or 25 under /usr/lib/jvm (set TOLLGATE_KEYCLOAK_JAVA_HOME)"
fi
[ -x "$java_home/bin/java" ] || kc_die "no java in $java_home"
kc_log "JDK $(java_major "$java_home") at $java_home"

# --- free loopback port (a small race with other programs is accepted)
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
url="http://127.0.0.1:$port"

mkdir -p "$KC_STATE_DIR"
log="$KC_STATE_DIR/keycloak.log"
: >"$log"

pid=""
ok=0
on_exit() {
    if [ "$ok" != 1 ] && [ -n "$pid" ]; then
        kc_log "start failed: stopping pid $pid"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$KC_STATE"
    fi
}
trap on_exit EXIT
trap 'exit 1' INT TERM

t0=$(date +%s.%N)
# setsid: Keycloak gets a process group of its own (id = $pid), so stop.sh can end
# kc.sh and its java child together by that id.
env JAVA_HOME="$java_home" \
    KC_BOOTSTRAP_ADMIN_USERNAME="$KC_ADMIN_USER" \
    KC_BOOTSTRAP_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
    setsid "$KC_HOME/bin/kc.sh" start-dev \
        --db=dev-mem \
        --http-host=127.0.0.1 \
        --http-port="$port" \
        --hostname="$url" \
        --health-enabled=true \
        --http-management-health-enabled=false \
        </dev/null >>"$log" 2>&1 &
pid=$!

timeout="${TOLLGATE_KEYCLOAK_START_TIMEOUT:-180}"
deadline=$(( $(date +%s) + timeout ))
until curl -fsS --max-time 2 "$url/health/ready" 2>/dev/null | grep -q '"UP"'; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "--- keycloak log (tail)" >&2; tail -n 60 "$log" >&2
        kc_die "Keycloak exited during start-up (log: $log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "--- keycloak log (tail)" >&2; tail -n 60 "$log" >&2
        kc_die "Keycloak was not ready within $timeout s (log: $log)"
    fi
    sleep 0.5
done
secs="$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")"
kc_log "ready at $url in $secs s"

cat >"$KC_STATE.tmp" <<STATE
KEYCLOAK_URL=$url
KEYCLOAK_PID=$pid
KEYCLOAK_LOG=$log
KEYCLOAK_ADMIN_USER=$KC_ADMIN_USER
KEYCLOAK_ADMIN_PASSWORD=$KC_ADMIN_PASSWORD
KEYCLOAK_HOME=$KC_HOME
KEYCLOAK_VERSION=$KC_VERSION
KEYCLOAK_JAVA_HOME=$java_home
KEYCLOAK_START_SECONDS=$secs
STATE
mv "$KC_STATE.tmp" "$KC_STATE"
ok=1
echo "KEYCLOAK_STATE=$KC_STATE"
cat "$KC_STATE"
