#!/usr/bin/env bash
# NGINX forward auth, throughput in one run (issue 19):
#
#   proxy     NGINX proxying to the upstream alone
#   auth-200  NGINX + auth_request to an auth server that always answers 200 (an
#             NGINX `return 200` block: the sub-request's own cost)
#   authz-200 NGINX + auth_request to a second tollgate-authz whose only rule is
#             `prefix = "/", public = true` (always 200, token not checked): the same
#             HTTP server, so tollgate - authz-200 is the token check's own cost
#   tollgate  NGINX + auth_request to tollgate-authz (route rule + token check +
#             identity headers; the config of tests/gateways/nginx-server.conf)
#
#   bench/gateway.sh                       # build (release) + 3 alternating rounds
#   ROUNDS=1 DURATION=3 bench/gateway.sh   # smoke run
#
# The upstream and the always-200 auth server are NGINX server blocks (`return 200`),
# so the same NGINX worker does the proxying work in every mode. NGINX (one worker,
# master_process off) and tollgate-authz share CPU $SERVER_CPU; wrk runs on $LOAD_CPU.
# One token repeated (a client reusing its access token: tollgate's warm path).
# Upstream connections are kept alive in every mode. Any non-2xx answer or socket
# error is reported. Besides wrk's req/s, the servers' CPU time per request is
# measured (from /proc): on a shared 2-core machine wrk's own core limits req/s, so
# the CPU cost is the comparable number. Ratios are to `proxy` from the same run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-7}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=${OUT:-$ROOT/bench/results/gateway.md}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
RUN=$(mktemp -d)

log() { echo "[gateway.sh $(date +%H:%M:%S)] $*" >&2; }

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
need() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
if ! need wrk || ! need nginx; then
    log "installing wrk and nginx-light (apt)"
    $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null \
        || { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PIN_SERVER=(); PIN_LOAD=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c "$SERVER_CPU"); PIN_LOAD=(taskset -c "$LOAD_CPU")
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p tollgate-authz -p tollgate-testkit --bin tollgate-authz --bin tollgate-dev-idp"
    cargo build --release -q -p tollgate-authz -p tollgate-testkit --bin tollgate-authz --bin tollgate-dev-idp
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    log "nothing listens on $1"; return 1
}

# the dev IdP and one token
IDP_PORT=$(free_port)
"$BIN/tollgate-dev-idp" --bind "127.0.0.1:$IDP_PORT" >"$RUN/idp.log" 2>&1 &
pids+=($!)
wait_port "$IDP_PORT"
ISSUER="http://127.0.0.1:$IDP_PORT"
TOKEN=$(curl -sf -u demo-reader:demo-reader-secret -d grant_type=client_credentials \
    -d resource=orders "$ISSUER/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# tollgate-authz
cat >"$RUN/authz.toml" <<EOF
realm = "orders"
[[issuer]]
issuer = "$ISSUER"
audiences = ["orders"]
jwks_uri = "$ISSUER/jwks"

[[route]]
prefix = "/hello"
methods = ["GET"]
scopes = { all = ["orders:read"] }
EOF
AUTHZ_PORT=$(free_port)
TOLLGATE_CONFIG="$RUN/authz.toml" BIND="127.0.0.1:$AUTHZ_PORT" "${PIN_SERVER[@]}" "$BIN/tollgate-authz" >"$RUN/authz.log" 2>&1 &
pids+=($!); SERVER_PIDS=($!)
wait_port "$AUTHZ_PORT"
# the always-200 tollgate-authz: one public rule
sed '/^\[\[route\]\]/,$d' "$RUN/authz.toml" >"$RUN/public.toml"
printf '[[route]]\nprefix = "/"\npublic = true\n' >>"$RUN/public.toml"
PUBLIC_PORT=$(free_port)
TOLLGATE_CONFIG="$RUN/public.toml" BIND="127.0.0.1:$PUBLIC_PORT" "${PIN_SERVER[@]}" "$BIN/tollgate-authz" >"$RUN/public.log" 2>&1 &
pids+=($!); SERVER_PIDS+=($!)
wait_port "$PUBLIC_PORT"

# NGINX: three front servers (proxy, auth-200, tollgate), the upstream, the 200 auth server
P_PROXY=$(free_port); P_AUTH200=$(free_port); P_PUBLIC=$(free_port); P_TOLLGATE=$(free_port); P_APP=$(free_port); P_OK=$(free_port)
front() { # port, auth upstream/path ("" = no auth_request)
    local auth=""
    if [ -n "$2" ]; then
        auth="auth_request /_auth;
            auth_request_set \$tg_subject \$upstream_http_x_auth_subject;
            auth_request_set \$tg_scopes  \$upstream_http_x_auth_scopes;
            proxy_set_header X-Auth-Subject \$tg_subject;
            proxy_set_header X-Auth-Scopes  \$tg_scopes;"
    fi
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            $auth
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
EOF
    if [ -n "$2" ]; then
        cat <<EOF
        location = /_auth {
            internal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method \$request_method;
            proxy_set_header X-Original-URI \$request_uri;
            proxy_pass http://$2;
        }
EOF
    fi
    echo "    }"
}
cat >"$RUN/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $RUN/body; proxy_temp_path $RUN/proxy;
    fastcgi_temp_path $RUN/fastcgi; uwsgi_temp_path $RUN/uwsgi; scgi_temp_path $RUN/scgi;
    upstream app      { server 127.0.0.1:$P_APP;  keepalive 64; }
    upstream ok       { server 127.0.0.1:$P_OK;   keepalive 64; }
    upstream tollgate { server 127.0.0.1:$AUTHZ_PORT; keepalive 64; }
    upstream public   { server 127.0.0.1:$PUBLIC_PORT; keepalive 64; }
    server { listen 127.0.0.1:$P_APP; location / { return 200 "hello"; } }
    server { listen 127.0.0.1:$P_OK;  location / { return 200; } }
$(front "$P_PROXY" "")
$(front "$P_AUTH200" "ok/ok")
$(front "$P_PUBLIC" "public/authz")
$(front "$P_TOLLGATE" "tollgate/authz")
}
EOF
"${PIN_SERVER[@]}" "$NGINX" -p "$RUN" -e "$RUN/nginx-error.log" -c "$RUN/nginx.conf" &
pids+=($!); SERVER_PIDS+=($!)
for p in "$P_PROXY" "$P_AUTH200" "$P_PUBLIC" "$P_TOLLGATE"; do wait_port "$p"; done

# sanity: each front answers 200 with the token; tollgate's refuses without it
for p in "$P_PROXY" "$P_AUTH200" "$P_PUBLIC" "$P_TOLLGATE"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$p/hello")
    [ "$code" = 200 ] || { log "port $p answered $code"; cat "$RUN/authz.log" "$RUN/nginx-error.log" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_TOLLGATE/hello")
[ "$code" = 401 ] || { log "tollgate front without token answered $code"; exit 1; }

TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
cpu_ticks() { # utime + stime of every server process (NGINX, both tollgate-authz)
    local t=0 p f
    for p in "${SERVER_PIDS[@]}"; do
        read -r -a f <"/proc/$p/stat"
        t=$(( t + f[13] + f[14] ))
    done
    echo "$t"
}

measure() { # port seconds → "req/s errors server-cpu-µs-per-request"
    local out t0 t1
    t0=$(cpu_ticks)
    out=$("${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"$2"s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/hello")
    t1=$(cpu_ticks)
    local rps n non2xx sock
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
    sock=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$out"); sock=${sock:-0}
    echo "$rps $((non2xx + sock)) $(awk -v t=$(( (t1 - t0) * TICK_US )) -v n="$n" 'BEGIN {printf "%.2f", t/n}')"
}

declare -A RES ERR CPU
MODES=(proxy auth-200 authz-200 tollgate)
declare -A PORT=([proxy]=$P_PROXY [auth-200]=$P_AUTH200 [authz-200]=$P_PUBLIC [tollgate]=$P_TOLLGATE)
for round in $(seq 1 "$ROUNDS"); do
    for m in "${MODES[@]}"; do
        measure "${PORT[$m]}" "$WARMUP" >/dev/null
        read -r rps errors cpu < <(measure "${PORT[$m]}" "$DURATION")
        log "round $round $m: $rps req/s, $cpu µs server CPU per request, $errors errors"
        RES[$m]="${RES[$m]:-} $rps"
        CPU[$m]="${CPU[$m]:-} $cpu"
        ERR[$m]=$(( ${ERR[$m]:-0} + errors ))
    done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
base=$(median "${RES[proxy]}")
cbase=$(median "${CPU[proxy]}")
{
    echo "# NGINX forward auth ($(date -u +%Y-%m-%d), $(nproc) cores, nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'))"
    echo
    echo "wrk -t1 -c$CONNECTIONS, ${DURATION}s per measurement after ${WARMUP}s warm-up, $ROUNDS alternating rounds (median);"
    echo "NGINX and tollgate-authz on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU; one token repeated."
    echo "Server CPU = utime + stime of NGINX and the tollgate-authz processes over the measurement,"
    echo "divided by the requests served: the cost that decides throughput once the servers'"
    echo "core is saturated. req/s is what wrk saw (limited by wrk's core when it is shared)."
    echo
    echo "| mode | server CPU µs/request (median) | req/s on one saturated core (1e6/µs) | vs proxy alone | req/s measured (median) | non-2xx + socket errors | CPU µs rounds | req/s rounds |"
    echo "|---|---|---|---|---|---|---|---|"
    for m in "${MODES[@]}"; do
        med=$(median "${RES[$m]}")
        cpu=$(median "${CPU[$m]}")
        cap=$(awk -v c="$cpu" 'BEGIN {printf "%.0f", 1000000/c}')
        ratio=$(awk -v a="$cpu" -v b="$cbase" 'BEGIN {printf "%.2f", b/a}')
        echo "| $m | $cpu | $cap | $ratio | $med | ${ERR[$m]} | ${CPU[$m]# } | ${RES[$m]# } |"
    done
} | tee "$OUT"
log "written to $OUT"
