#!/usr/bin/env bash
# (Re)create realm `tollgate` in the Keycloak that start.sh started (admin REST API):
# clients orders-api (resource server, client roles orders:read / orders:write),
# orders-client (service account, orders:read), orders-writer (service account, both),
# other-client (service account, roles of the same names held on itself), orders-rfc9068
# (service account, orders:read, header typ at+jwt), orders-cli
# (public, password grant) and user alice. Service-account clients and orders-cli carry
# an audience mapper for orders-api. See README.md for what the tokens look like.
#
# Prints KEY=value lines (issuer, URLs, client ids and their fixed test secrets) and
# writes them to <state dir>/realm.env for a test harness to source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
kc_load_state
KC_STATE="$KC_STATE" KC_REALM_ENV="$KC_STATE_DIR/realm.env" exec python3 "$here/kc_admin.py" provision
