#!/usr/bin/env bash
# Side-by-side load comparison: tollgate vs bare servers vs peer crates.
#
#   bench/run.sh            # build (release) + full run; table to stdout and results/latest.md
#   SKIP_BUILD=1 bench/run.sh
#   ROUNDS=1 DURATION=3 MODES="warm grpc" ALGS=RS256 bench/run.sh   # quick smoke run
#
# Every contender serves GET /hello -> "hello" on 127.0.0.1 (gRPC: a unary Hello/Say),
# with keys from one JWKS that bench-idp serves over loopback HTTP. Each measurement
# starts a fresh server process pinned to CPU $SERVER_CPU; the load generator (wrk, or
# grpc-load for gRPC) runs on CPU $LOAD_CPU. Per (mode, algorithm) the contenders are
# run in alternating rounds (round 1: all contenders, round 2: all contenders, ...),
# each with a warm-up, and the table reports medians over the rounds.
#
# Modes:
#   warm  one token repeated (what a client reusing its access token looks like)
#   cold  every request carries a different valid token (lua/cold.lua); warm-up uses
#         the warm token, so the measured requests are all first sightings
#   grpc  unary gRPC, one token repeated: bare tonic vs tollgate-tonic
#
# Any non-2xx answer or socket error during a measurement is reported in the table
# (an auth layer answering 401 quickly must not look fast); so are cold runs that ran
# out of distinct tokens.
set -euo pipefail

cd "$(dirname "$0")"
BENCH_DIR=$(pwd)

ROUNDS=${ROUNDS:-3}              # alternating rounds per (mode, algorithm)
DURATION=${DURATION:-7}          # measured seconds, warm and grpc modes
COLD_DURATION=${COLD_DURATION:-4} # measured seconds, cold mode (needs COLD_TOKENS >= this × req/s)
WARMUP=${WARMUP:-2}              # warm-up seconds before each measurement
CONNECTIONS=${CONNECTIONS:-32}   # wrk -c, and gRPC calls in flight
GRPC_CONNECTIONS=${GRPC_CONNECTIONS:-4}
COLD_TOKENS=${COLD_TOKENS:-200000} # distinct tokens per algorithm for cold mode
ALGS=${ALGS:-"RS256 ES256"}
MODES=${MODES:-"warm cold grpc"}
HTTP_CONTENDERS=${HTTP_CONTENDERS:-"axum-bare axum-sigcheck tollgate-cached tollgate-uncached jwt-authorizer toors-awslc toors-rustcrypto"}
GRPC_CONTENDERS=${GRPC_CONTENDERS:-"tonic-bare tonic-tollgate"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-38080}
OUT=${OUT:-$BENCH_DIR/results/latest.md}
RUN_DIR=$BENCH_DIR/target/bench-run
BIN=$BENCH_DIR/target/release

log() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- prerequisites
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
PIN_SERVER=(); PIN_LOAD=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c "$SERVER_CPU"); PIN_LOAD=(taskset -c "$LOAD_CPU")
fi

# load of the machine before this script adds its own (server + load generator keep
# about 2 runnable tasks while measuring)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building (release)"
    # Two invocations: bench-toors-rustcrypto selects jsonwebtoken's rust-crypto backend,
    # everything else aws-lc-rs; one build would unify both into jsonwebtoken, which
    # then refuses to pick one at run time.
    nice -n 10 cargo build --release --locked -q -p bench-tools -p bench-axum08 -p bench-grpc \
        -p bench-jwt-authorizer -p bench-toors-awslc
    nice -n 10 cargo build --release --locked -q -p bench-toors-rustcrypto
fi

# ---------------------------------------------------------------- processes
IDP_PID=""; SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR/ready" "$RUN_DIR/raw.tsv"
log "bench-idp: generating keys, minting 2 x $COLD_TOKENS cold tokens"
"$BIN/bench-idp" --out "$RUN_DIR" --cold "$COLD_TOKENS" --ttl 7200 >"$RUN_DIR/idp.log" 2>&1 &
IDP_PID=$!
for _ in $(seq 1 1200); do
    [ -f "$RUN_DIR/ready" ] && break
    kill -0 "$IDP_PID" 2>/dev/null || { cat "$RUN_DIR/idp.log" >&2; exit 1; }
    sleep 0.5
done
[ -f "$RUN_DIR/ready" ] || { echo "bench-idp did not get ready" >&2; exit 1; }
# shellcheck source=/dev/null
. "$RUN_DIR/env"
export JWKS_URL ISSUER AUDIENCE PORT
log "$(grep minted "$RUN_DIR/idp.log" || true)"

# issue 18: the signature part of the cold-path limit (one check with an aws-lc key
# parsed once), measured in this run on the server's CPU, before and after the load
raw_verify() { # output file
    [ -x "$BIN/bench-raw-verify" ] || return 0
    curl -s "$JWKS_URL" >"$RUN_DIR/jwks.json"
    "${PIN_SERVER[@]}" "$BIN/bench-raw-verify" "$RUN_DIR/jwks.json" "$RUN_DIR" >"$1"
    log "pre-parsed signature check: $(tr '\n' ' ' <"$1")"
}
rm -f "$RUN_DIR/raw-verify-start.env" "$RUN_DIR/raw-verify-end.env"
raw_verify "$RUN_DIR/raw-verify-start.env"

wait_port() {
    for _ in $(seq 1 200); do
        (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

start_server() { # binary
    "${PIN_SERVER[@]}" "$BIN/$1" >"$RUN_DIR/server-$1.log" 2>&1 &
    SERVER_PID=$!
    wait_port || { echo "server $1 did not start:" >&2; cat "$RUN_DIR/server-$1.log" >&2; exit 1; }
}

CLK_TCK=$(getconf CLK_TCK)
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; } # utime + stime
cpu_us_per_req() { # ticks_before ticks_after requests
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / hz / n; else print "nan" }'
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# Refuse to measure a contender that does not answer as expected.
check_http() { # contender token
    local code
    # some contenders fetch their first key set in the background after listening
    for _ in $(seq 1 50); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "http://127.0.0.1:$PORT/hello")
        [ "$code" = 200 ] && break
        sleep 0.1
    done
    [ "$code" = 200 ] || { echo "$1: valid token answered $code" >&2; exit 1; }
    if [ "$1" != axum-bare ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/hello")
        [ "$code" = 401 ] || { echo "$1: no token answered $code (expected 401)" >&2; exit 1; }
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${2%?}x" "http://127.0.0.1:$PORT/hello")
        [ "$code" = 401 ] || { echo "$1: broken signature answered $code (expected 401)" >&2; exit 1; }
    fi
}

to_ms() { # wrk latency like 812.00us / 1.23ms / 1.01s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
        else printf "nan" }'
}

# measure_http mode alg contender round
measure_http() {
    local mode=$1 alg=$2 c=$3 round=$4 tokvar="TOKEN_$2" out rps p99 bad note="" dur t0 t1 n cpu
    local token=${!tokvar}
    start_server "$c"
    check_http "$c" "$token"
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$PORT/hello" >/dev/null
    t0=$(server_ticks)
    if [ "$mode" = cold ]; then
        dur=$COLD_DURATION
        out=$(TOKENS_FILE="$RUN_DIR/cold-$alg.txt" "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${dur}s" \
            --latency -s "$BENCH_DIR/lua/cold.lua" "http://127.0.0.1:$PORT/hello")
        # a repeated token would be served from a cache: flag it (irrelevant for bare axum)
        if [ "$c" != axum-bare ] && echo "$out" | grep -q 'cold_wraps=[1-9]'; then
            note="token list wrapped: raise COLD_TOKENS"
        fi
    else
        dur=$DURATION
        out=$("${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${dur}s" --latency \
            -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/hello")
    fi
    t1=$(server_ticks)
    stop_server
    n=$(echo "$out" | awk '/requests in/ {print $1; exit}')
    cpu=$(cpu_us_per_req "$t0" "$t1" "$n")
    rps=$(echo "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    bad=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); n += v } } END {print n + 0}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$alg" "$c" "$round" "$rps" "$p99" "$bad" "$note" "$cpu" >>"$RUN_DIR/raw.tsv"
    log "$mode $alg round $round $c: $rps req/s, p99 $p99 ms, server CPU $cpu µs/req, errors $bad${note:+, $note}"
}

# measure_grpc alg contender round
measure_grpc() {
    local alg=$1 c=$2 round=$3 tokvar="TOKEN_$1" out rps p99 bad t0 t1 n cpu
    local token=${!tokvar}
    start_server "$c"
    if [ "$c" != tonic-bare ]; then # must refuse a call without a token
        if "$BIN/grpc-load" --addr "127.0.0.1:$PORT" --warmup 0 --duration 1 --concurrency 1 \
            --connections 1 >/dev/null 2>&1; then
            echo "$c: accepted calls without a token" >&2; exit 1
        fi
    fi
    "${PIN_LOAD[@]}" "$BIN/grpc-load" --addr "127.0.0.1:$PORT" --token "$token" \
        --warmup 0 --duration "$WARMUP" --concurrency "$CONNECTIONS" \
        --connections "$GRPC_CONNECTIONS" >/dev/null || { echo "$c: gRPC calls failed" >&2; exit 1; }
    t0=$(server_ticks)
    out=$("${PIN_LOAD[@]}" "$BIN/grpc-load" --addr "127.0.0.1:$PORT" --token "$token" \
        --warmup 0 --duration "$DURATION" --concurrency "$CONNECTIONS" \
        --connections "$GRPC_CONNECTIONS") || { echo "$c: gRPC calls failed: $out" >&2; exit 1; }
    t1=$(server_ticks)
    stop_server
    n=$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
    cpu=$(cpu_us_per_req "$t0" "$t1" "$n")
    rps=$(echo "$out" | sed -n 's/.*rps=\([0-9]*\).*/\1/p')
    p99=$(echo "$out" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' | awk '{printf "%.2f", $1 / 1000}')
    bad=$(echo "$out" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' grpc "$alg" "$c" "$round" "$rps" "$p99" "$bad" "" "$cpu" >>"$RUN_DIR/raw.tsv"
    log "grpc $alg round $round $c: $rps calls/s, p99 $p99 ms, server CPU $cpu µs/call"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
T0=$(date +%s)
for mode in $MODES; do
    for alg in $ALGS; do
        for round in $(seq 1 "$ROUNDS"); do
            if [ "$mode" = grpc ]; then
                for c in $GRPC_CONTENDERS; do measure_grpc "$alg" "$c" "$round"; done
            else
                for c in $HTTP_CONTENDERS; do measure_http "$mode" "$alg" "$c" "$round"; done
            fi
        done
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - T0 ))
raw_verify "$RUN_DIR/raw-verify-end.env"

# ---------------------------------------------------------------- report
median() { sort -n | awk '{a[NR] = $1} END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { # mode alg contender column(5=rps,6=p99,9=server CPU µs/req)
    awk -F'\t' -v m="$1" -v a="$2" -v c="$3" -v k="$4" '$1 == m && $2 == a && $3 == c {print $k}' "$RUN_DIR/raw.tsv" | median
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "" || y == "" || y == 0) print "n/a"; else printf "%.2f", x / y }'; }

label() {
    case $1 in
        axum-bare) echo "bare axum 0.8 (no auth)";;
        axum-sigcheck) echo "bare axum 0.8 + the signature check only (measured limit)";;
        tollgate-cached) echo "tollgate (cache on, default)";;
        tollgate-uncached) echo "tollgate (cache off)";;
        tollgate-metrics) echo "tollgate (cache on, Prometheus recorder installed)";;
        jwt-authorizer) echo "jwt-authorizer 0.15 (axum 0.7)";;
        toors-awslc) echo "tower-oauth2-resource-server 0.12.5 (aws-lc-rs)";;
        toors-rustcrypto) echo "tower-oauth2-resource-server 0.12.5 (default: rust-crypto)";;
        tonic-bare) echo "bare tonic 0.14 (no auth)";;
        tonic-tollgate) echo "tollgate-tonic (cache on, default)";;
        *) echo "$1";;
    esac
}

report() {
    echo "## Load comparison (bench/run.sh)"
    echo
    echo "- started $STARTED; $ELAPSED s of measurements; commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
    echo "- load average (1/5/15 min) before the script: $LOAD_BEFORE; when measurements started: $LOAD_START; at the end: $LOAD_END (the run itself keeps about 2 tasks busy)"
    echo "- server pinned to CPU $SERVER_CPU, load generator to CPU $LOAD_CPU; wrk -t1 -c$CONNECTIONS (gRPC: $CONNECTIONS calls in flight over $GRPC_CONNECTIONS connections)"
    echo "- $ROUNDS alternating rounds per group, ${WARMUP} s warm-up + ${DURATION} s measured (cold: ${COLD_DURATION} s, ${COLD_TOKENS} distinct tokens per algorithm); medians over rounds"
    echo
    for mode in $MODES; do
        for alg in $ALGS; do
            local ref=axum-bare contenders=$HTTP_CONTENDERS title
            case $mode in
                warm) title="warm path (one token repeated)";;
                cold) title="cold path (a different valid token on every request)";;
                grpc) title="gRPC unary, warm path"; ref=tonic-bare; contenders=$GRPC_CONTENDERS;;
            esac
            local bare; bare=$(med "$mode" "$alg" "$ref" 5)
            echo "### $alg, $title"
            echo
            echo "| contender | req/s (median) | p99 ms (median) | × bare | server CPU µs/req (median) | req/s per round | errors |"
            echo "|---|---:|---:|---:|---:|---|---:|"
            for c in $contenders; do
                local rps p99 cpu rounds errs notes
                rps=$(med "$mode" "$alg" "$c" 5)
                [ -z "$rps" ] && continue
                p99=$(med "$mode" "$alg" "$c" 6)
                cpu=$(med "$mode" "$alg" "$c" 9)
                rounds=$(awk -F'\t' -v m="$mode" -v a="$alg" -v c="$c" '$1 == m && $2 == a && $3 == c {printf "%s%s", s, $5; s = " / "}' "$RUN_DIR/raw.tsv")
                errs=$(awk -F'\t' -v m="$mode" -v a="$alg" -v c="$c" '$1 == m && $2 == a && $3 == c {n += $7} END {print n + 0}' "$RUN_DIR/raw.tsv")
                notes=$(awk -F'\t' -v m="$mode" -v a="$alg" -v c="$c" '$1 == m && $2 == a && $3 == c && $8 != "" {print $8; exit}' "$RUN_DIR/raw.tsv")
                echo "| $(label "$c") | ${rps%.*} | $p99 | $(ratio "$rps" "$bare") | $cpu | $rounds | $errs${notes:+ ($notes)} |"
            done
            echo
        done
    done

    echo "### issue 8 targets (ratios of medians from this run)"
    echo
    echo "| target | throughput ratio | verdict | server CPU per request (ours vs theirs) |"
    echo "|---|---:|---|---|"
    target() { # description value threshold [mode alg ours theirs: server CPU per request]
        local v=$2 cpu=""
        if [ "$v" = n/a ]; then echo "| $1 | n/a | not measured | |"; return; fi
        if [ $# -ge 7 ]; then
            cpu="$(med "$4" "$5" "$6" 9) vs $(med "$4" "$5" "$7" 9) µs"
        fi
        if awk -v v="$v" -v t="$3" 'BEGIN { exit !(v >= t) }'; then
            echo "| $1 | ${v}× | met | $cpu |"
        else
            echo "| $1 | ${v}× | **missed** ($(awk -v v="$v" -v t="$3" 'BEGIN { printf "%.0f%% short", (1 - v / t) * 100 }')) | $cpu |"
        fi
    }
    for alg in $ALGS; do
        target "warm $alg: tollgate ≥ 0.90× bare axum" \
            "$(ratio "$(med warm "$alg" tollgate-cached 5)" "$(med warm "$alg" axum-bare 5)")" 0.90 \
            warm "$alg" tollgate-cached axum-bare
    done
    target "warm RS256: tollgate ≥ 2.5× jwt-authorizer" \
        "$(ratio "$(med warm RS256 tollgate-cached 5)" "$(med warm RS256 jwt-authorizer 5)")" 2.5 \
        warm RS256 tollgate-cached jwt-authorizer
    target "warm ES256: tollgate ≥ 4× jwt-authorizer" \
        "$(ratio "$(med warm ES256 tollgate-cached 5)" "$(med warm ES256 jwt-authorizer 5)")" 4 \
        warm ES256 tollgate-cached jwt-authorizer
    for alg in $ALGS; do
        target "cold $alg: tollgate ≥ 1.4× jwt-authorizer" \
            "$(ratio "$(med cold "$alg" tollgate-cached 5)" "$(med cold "$alg" jwt-authorizer 5)")" 1.4 \
            cold "$alg" tollgate-cached jwt-authorizer
    done
    for alg in $ALGS; do
        target "gRPC warm $alg: tollgate-tonic ≥ 0.90× bare tonic" \
            "$(ratio "$(med grpc "$alg" tonic-tollgate 5)" "$(med grpc "$alg" tonic-bare 5)")" 0.90 \
            grpc "$alg" tonic-tollgate tonic-bare
    done
}

# issue 18: cold path against its limit (bare axum + one pre-parsed signature check, both
# from this run) and against jwt-authorizer
raw_us() { # alg: mean of the checks before and after the load
    cat "$RUN_DIR"/raw-verify-*.env 2>/dev/null | awk -F= -v k="RAW_US_$1" '$1 == k {s += $2; n++} END { if (n) printf "%.2f", s / n }'
}
report_cold() {
    case " $MODES " in *" cold "*) ;; *) return 0;; esac
    echo
    echo "### issue 18 targets: cold path (server CPU µs per request, medians from this run)"
    echo
    echo "| | bare axum | pre-parsed signature check (before / after the load) | limit = bare + check | contender | CPU µs/req | × limit | target ≤ 1.10× limit | req/s × jwt-authorizer | target |"
    echo "|---|---:|---|---:|---|---:|---:|---|---:|---|"
    for alg in $ALGS; do
        local bare raw limit want rawseen
        bare=$(med cold "$alg" axum-bare 9)
        raw=$(raw_us "$alg")
        rawseen=$(for f in start end; do awk -F= -v k="RAW_US_$alg" '$1 == k {print $2}' "$RUN_DIR/raw-verify-$f.env" 2>/dev/null; done | paste -sd/ -)
        [ -z "$bare" ] || [ -z "$raw" ] && continue
        limit=$(awk -v b="$bare" -v r="$raw" 'BEGIN { printf "%.1f", b + r }')
        case $alg in RS256) want=1.25;; ES256) want=1.05;; *) want="";; esac
        for c in tollgate-uncached tollgate-cached; do
            local cpu x rps_ratio v1 v2
            cpu=$(med cold "$alg" "$c" 9)
            [ -z "$cpu" ] && continue
            x=$(ratio "$cpu" "$limit")
            v1=$(awk -v x="$x" 'BEGIN { print (x != "n/a" && x <= 1.10) ? "met" : "**missed**" }')
            rps_ratio=$(ratio "$(med cold "$alg" "$c" 5)" "$(med cold "$alg" jwt-authorizer 5)")
            v2=$(awk -v x="$rps_ratio" -v t="$want" 'BEGIN { if (x == "n/a" || t == "") print "n/a"; else print (x >= t) ? "≥ " t "×: met" : "≥ " t "×: **missed**" }')
            echo "| $alg | $bare | $rawseen | $limit | $(label "$c") | $cpu | $x | $v1 | $rps_ratio | $v2 |"
        done
    done
    # the limit measured as a server (axum-sigcheck: bare axum + only the signature
    # check), at the throughput the verifiers run at
    case " $HTTP_CONTENDERS " in *" axum-sigcheck "*) ;; *) return 0;; esac
    echo
    echo "Measured limit (\`axum-sigcheck\`: bare axum + base64 of the signature + the pre-parsed check, no JSON or claim checks), same run:"
    echo
    echo "| | axum-sigcheck CPU µs/req | req/s | contender | CPU µs/req | × axum-sigcheck | req/s × axum-sigcheck |"
    echo "|---|---:|---:|---|---:|---:|---:|"
    for alg in $ALGS; do
        local sc scr
        sc=$(med cold "$alg" axum-sigcheck 9)
        scr=$(med cold "$alg" axum-sigcheck 5)
        [ -z "$sc" ] && continue
        for c in tollgate-uncached tollgate-cached jwt-authorizer; do
            local cpu
            cpu=$(med cold "$alg" "$c" 9)
            [ -z "$cpu" ] && continue
            echo "| $alg | $sc | ${scr%.*} | $(label "$c") | $cpu | $(ratio "$cpu" "$sc") | $(ratio "$(med cold "$alg" "$c" 5)" "$scr") |"
        done
    done
}

mkdir -p "$(dirname "$OUT")"
{ report; report_cold; } | tee "$OUT"
cp "$RUN_DIR/raw.tsv" "${OUT%.md}.tsv"
log "written $OUT and ${OUT%.md}.tsv"
