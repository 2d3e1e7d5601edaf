#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds (default 600), one at a time, niced, with a
# scratch corpus under target/fuzz-corpus/<target> seeded from fuzz/corpus/<target>.
# Logs to target/fuzz-logs/<target>.log. See README.md.
set -euo pipefail
cd "$(dirname "$0")"
secs="${SECS:-600}"
toolchain="${FUZZ_TOOLCHAIN:-+nightly}"
mkdir -p ../target/fuzz-logs
for t in ${TARGETS:-bearer jws verify jwks scope}; do
    mkdir -p "../target/fuzz-corpus/$t"
    echo "== $t for ${secs}s"
    nice -n 15 cargo $toolchain fuzz run -O "$t" "../target/fuzz-corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
        > "../target/fuzz-logs/$t.log" 2>&1 || echo "!! $t exited $? (see target/fuzz-logs/$t.log)"
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done" "../target/fuzz-logs/$t.log" || true
done
