#!/usr/bin/env bash
# Where does a contender's server spend its CPU under load? (perf, flat profile)
#
#   bench/profile.sh ALG MODE SECONDS CONTENDER...
#   bench/profile.sh RS256 cold 4 tollgate-cached tollgate-uncached jwt-authorizer
#
# CONTENDER: server binaries of bench/target/release (run.sh builds them); ALG RS256
# or ES256; MODE warm or cold (as in run.sh; cold needs SECONDS+1 s worth of distinct
# tokens, COLD_TOKENS, default 200000). Needs `perf` (apt: linux-perf) and
# permission to profile (root, or kernel.perf_event_paranoid <= 1). Prints the top of
# `perf report` (self time by shared object and symbol) and keeps perf.data in
# target/bench-run/.
set -euo pipefail
cd "$(dirname "$0")"
[ $# -ge 4 ] || { echo "usage: profile.sh ALG MODE SECONDS CONTENDER..." >&2; exit 2; }
ALG=$1; MODE=$2; SECS=$3; shift 3
PORT=${PORT:-38090}; COLD_TOKENS=${COLD_TOKENS:-200000}
RUN_DIR=$(pwd)/target/bench-run/profile; BIN=$(pwd)/target/release
mkdir -p "$RUN_DIR"; rm -f "$RUN_DIR/ready"

IDP=""; SRV=""
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; [ -n "$IDP" ] && kill "$IDP" 2>/dev/null; wait 2>/dev/null || true' EXIT
"$BIN/bench-idp" --out "$RUN_DIR" --cold "$COLD_TOKENS" >/dev/null 2>&1 &
IDP=$!
until [ -f "$RUN_DIR/ready" ]; do sleep 0.5; done
# shellcheck source=/dev/null
. "$RUN_DIR/env"; export JWKS_URL ISSUER AUDIENCE PORT
tokvar="TOKEN_$ALG"; token=${!tokvar}

for C in "$@"; do
    taskset -c 0 "$BIN/$C" >/dev/null 2>&1 &
    SRV=$!
    until curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/hello"; do sleep 0.1; done
    
    if [ "$MODE" = cold ]; then
        TOKENS_FILE="$RUN_DIR/cold-$ALG.txt" taskset -c 1 wrk -t1 -c32 -d"$((SECS + 1))s" \
            -s lua/cold.lua "http://127.0.0.1:$PORT/hello" >/dev/null &
    else
        taskset -c 1 wrk -t1 -c32 -d"$((SECS + 1))s" -H "Authorization: Bearer $token" \
            "http://127.0.0.1:$PORT/hello" >/dev/null &
    fi
    WRK=$!
    sleep 0.5
    perf record -q -F 2999 -g -o "$RUN_DIR/perf-$C-$ALG-$MODE.data" -p "$SRV" -- sleep "$SECS" 2>/dev/null
    wait "$WRK"
    echo "## perf: $C, $ALG, $MODE ($SECS s, self time)"
    perf report -q -i "$RUN_DIR/perf-$C-$ALG-$MODE.data" --no-children --sort dso,symbol \
        --percent-limit 0.8 --stdio -g none -F overhead,dso,sym 2>/dev/null | sed 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//; s/[[:space:]]*$//' | grep -v '^$' | sort -rn | head -16
    echo "## by category (self time)"
    perf report -q -i "$RUN_DIR/perf-$C-$ALG-$MODE.data" --no-children --sort dso,sym --stdio -g none \
        -F overhead,dso,sym 2>/dev/null | awk '
        NF >= 4 { p = $1; sub(/%/, "", p); d = $2; sym = $0; sub(/^[^]]*\] /, "", sym)
            if (d ~ /kernel/) c = "kernel (network stack, scheduling)"
            else if (sym ~ /aws_lc|ring_core|ring::|p256|bn_|ecp_nistz|sha256|rsa/) c = "signature crypto (aws-lc / ring)"
            else if (sym ~ /quick_cache|foldhash|tollgate_core::cache/) c = "verified-token cache (quick_cache, foldhash)"
            else if (sym ~ /malloc|free|realloc|memcpy|memmove|memset|cfree/) c = "libc allocator and mem*"
            else if (sym ~ /serde|json/) c = "JSON (serde_json)"
            else if (sym ~ /tollgate|jsonwebtoken|jwt_authorizer|tower_oauth2|base64/) c = "token handling (bearer parse, base64, claims)"
            else if (sym ~ /hyper|axum|tokio|http|mio|tower|bytes/) c = "HTTP server (hyper, axum, tokio)"
            else c = "other"
            t[c] += p }
        END { for (c in t) printf "%6.1f%%  %s\n", t[c], c }' | sort -rn
    kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null || true; SRV=""
done
