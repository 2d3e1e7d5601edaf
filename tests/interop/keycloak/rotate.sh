#!/usr/bin/env bash
# Add a new active RS256 signing key to realm `tollgate` (component rsa-generated of
# providerType org.keycloak.keys.KeyProvider, priority above every existing RSA signing
# key), so the realm signs from now on with a new kid. Prints KEYCLOAK_OLD_KID= and
# KEYCLOAK_NEW_KID= as soon as the new key is active.
#
#   rotate.sh [--retire-after SECONDS] [--retire passive|disable|delete]
#
# With --retire-after, it then waits SECONDS and retires the older RSA signing keys:
# passive (default: no longer signs, still verifies and stays in the JWKS), disable
# (enabled=false: leaves the JWKS) or delete (component removed). Run it in the
# background to rotate under load.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
kc_load_state
KC_STATE="$KC_STATE" exec python3 "$here/kc_admin.py" rotate "$@"
