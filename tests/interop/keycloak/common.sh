# Sourced by the Keycloak interop scripts. Not executable on its own.
# Everything here is a fixed TEST value for a throw-away Keycloak bound to 127.0.0.1.

# Keycloak version: a 26.x keycloak-quarkus-dist zip served by Maven Central.
KC_VERSION="${TOLLGATE_KEYCLOAK_VERSION:-26.7.3}"
# Cache outside the clone (kept between CI runs where the machine allows).
KC_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/keycloak"
KC_HOME="$KC_CACHE/keycloak-$KC_VERSION"
# Where a running instance is described (URL, PID, admin credentials).
KC_STATE_DIR="${TOLLGATE_KEYCLOAK_STATE_DIR:-$KC_CACHE/run}"
KC_STATE="$KC_STATE_DIR/state.env"
# Fixed test-only bootstrap admin (loopback-only, throw-away data dir).
KC_ADMIN_USER="${TOLLGATE_KEYCLOAK_ADMIN:-admin}"
KC_ADMIN_PASSWORD="${TOLLGATE_KEYCLOAK_ADMIN_PASSWORD:-tollgate-test-admin}"

kc_die() { echo "keycloak: error: $*" >&2; exit 1; }
kc_log() { echo "keycloak: $*" >&2; }

# Load KEYCLOAK_URL etc. from the state file written by start.sh.
kc_load_state() {
    [ -s "$KC_STATE" ] || kc_die "no state file $KC_STATE (run tests/interop/keycloak/start.sh first)"
    # shellcheck disable=SC1090
    . "$KC_STATE"
    case "${KEYCLOAK_URL:-}" in
        http://127.0.0.1:*) ;;
        *) kc_die "state file $KC_STATE has no loopback KEYCLOAK_URL" ;;
    esac
}
