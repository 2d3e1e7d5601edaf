#!/usr/bin/env bash
# Download org.keycloak:keycloak-quarkus-dist:<version>:zip with Maven into a cache
# folder outside the clone, verify its SHA-1 against the checksum published beside it,
# and unzip it once. Idempotent: a complete unpacked copy in the cache is reused.
#
#   TOLLGATE_CACHE            cache root (default $HOME/.cache/tollgate)
#   TOLLGATE_KEYCLOAK_VERSION Keycloak version (default in common.sh)
#
# Prints KEYCLOAK_HOME=<dir> on stdout; progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

if [ -x "$KC_HOME/bin/kc.sh" ] && [ -f "$KC_HOME/.tollgate-complete" ]; then
    kc_log "cached: $KC_HOME"
    echo "KEYCLOAK_HOME=$KC_HOME"
    exit 0
fi

command -v mvn >/dev/null || kc_die "mvn not found (Maven is needed to fetch Keycloak)"
command -v unzip >/dev/null || kc_die "unzip not found"
command -v sha1sum >/dev/null || kc_die "sha1sum not found"

mkdir -p "$KC_CACHE"
zip="$KC_CACHE/keycloak-quarkus-dist-$KC_VERSION.zip"
tmp="$(mktemp -d "$KC_CACHE/.fetch.XXXXXX")"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

t0=$(date +%s)
if [ ! -s "$zip" ]; then
    # A Maven local repository of its own inside the cache: the whole cache can be
    # deleted as one folder. -C: fail on a checksum mismatch while downloading.
    kc_log "downloading keycloak-quarkus-dist $KC_VERSION with Maven"
    if ! mvn -B -q -C -Dmaven.repo.local="$KC_CACHE/m2" \
            org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
            -Dartifact="org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip" \
            -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1; then
        cat "$tmp/mvn.log" >&2
        kc_die "Maven could not fetch org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip"
    fi
    m2dir="$KC_CACHE/m2/org/keycloak/keycloak-quarkus-dist/$KC_VERSION"
    sha_file="$m2dir/keycloak-quarkus-dist-$KC_VERSION.zip.sha1"
    [ -s "$sha_file" ] || kc_die "no published .sha1 beside the artifact ($sha_file)"
    want="$(tr -d ' \r\n' <"$sha_file" | cut -c1-40)"
    got="$(sha1sum "$tmp/keycloak-quarkus-dist-$KC_VERSION.zip" | cut -d' ' -f1)"
    if [ "$want" != "$got" ]; then
        kc_die "SHA-1 mismatch for the Keycloak zip: published $want, downloaded $got"
    fi
    kc_log "sha1 ok ($got)"
    cp "$sha_file" "$zip.sha1"
    mv "$tmp/keycloak-quarkus-dist-$KC_VERSION.zip" "$zip"
    # keep one copy only (the one in the cache root)
    rm -f "$m2dir/keycloak-quarkus-dist-$KC_VERSION.zip"
    kc_log "downloaded in $(( $(date +%s) - t0 )) s"
else
    # cached zip: check it against the checksum kept beside it
    [ -s "$zip.sha1" ] || kc_die "cached $zip has no .sha1 beside it; delete it and rerun"
    want="$(tr -d ' \r\n' <"$zip.sha1" | cut -c1-40)"
    got="$(sha1sum "$zip" | cut -d' ' -f1)"
    if [ "$want" != "$got" ]; then
        rm -f "$zip" "$zip.sha1"
        kc_die "cached zip was corrupt (removed); rerun to download it again"
    fi
fi

t1=$(date +%s)
kc_log "unzipping into $KC_HOME"
rm -rf "$KC_HOME"
unzip -q "$zip" -d "$tmp/unz"
[ -x "$tmp/unz/keycloak-$KC_VERSION/bin/kc.sh" ] || kc_die "zip has no keycloak-$KC_VERSION/bin/kc.sh"
mv "$tmp/unz/keycloak-$KC_VERSION" "$KC_HOME"
touch "$KC_HOME/.tollgate-complete"
kc_log "unzipped in $(( $(date +%s) - t1 )) s"
echo "KEYCLOAK_HOME=$KC_HOME"
