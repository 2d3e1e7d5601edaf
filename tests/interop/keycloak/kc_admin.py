#!/usr/bin/env python3
"""Admin REST API helper for the throw-away test Keycloak (stdlib only).

Subcommands (all read the state file written by start.sh, path in $KC_STATE):
  provision            (re)create realm `tollgate` with the clients, roles, mappers and
                       user described in README.md; prints KEY=value lines.
  rotate [--retire-after S] [--retire passive|disable|delete]
                       add a new active rsa-generated signing key of higher priority;
                       prints the new kid; optionally retires the older RSA signing keys
                       S seconds later.
  token NAME           fetch a token for the test harness: NAME is reader | writer | other |
                       rfc9068 (client credentials) or alice (password grant, scope openid; prints
                       the whole JSON answer so the id_token is there too).
  keys                 print the realm's key list (admin view) as JSON.
  check                check that the running realm issues tokens of the shape README.md
                       records (header/payload typ, aud, roles, ID token, JWKS, rotation);
                       exits 1 naming each check that failed. Rotates the realm's key.

Everything here is a fixed TEST value for a Keycloak bound to 127.0.0.1.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REALM = "tollgate"
AUDIENCE = "orders-api"
# Fixed test-only secrets (a throw-away Keycloak on loopback with an in-memory database).
CLIENTS = {
    # resource server: confidential, no flow of its own (bearer-only style); its secret
    # lets a test call the introspection endpoint.
    "orders-api": {"secret": "orders-api-test-secret"},
    # service account with orders-api's `orders:read`
    "orders-client": {"secret": "orders-client-test-secret"},
    # service account with orders-api's `orders:read` and `orders:write`
    "orders-writer": {"secret": "orders-writer-test-secret"},
    # service account whose roles `orders:read`/`orders:write` are held on *other-client*
    # itself, not on orders-api (its tokens still carry aud orders-api)
    "other-client": {"secret": "other-client-test-secret"},
    # service account with orders-api's `orders:read` whose access tokens carry the
    # header typ `at+jwt` (client attribute access.token.header.type.rfc9068)
    "orders-rfc9068": {"secret": "orders-rfc9068-test-secret"},
    # public client, direct access grants (password grant) for alice's ID token
    "orders-cli": {},
}
USER = "alice"
USER_PASSWORD = "alice-test-password"


def die(msg):
    print(f"keycloak: error: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"keycloak: {msg}", file=sys.stderr)


def load_state():
    path = os.environ.get("KC_STATE")
    if not path or not os.path.isfile(path):
        die(f"no state file {path!r} (run tests/interop/keycloak/start.sh first)")
    state = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line:
                k, v = line.split("=", 1)
                state[k] = v
    url = state.get("KEYCLOAK_URL", "")
    if not url.startswith("http://127.0.0.1:"):
        die(f"state file {path} has no loopback KEYCLOAK_URL")
    return state


class Http:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.token = None

    def req(self, method, path, body=None, form=None, expect=(200, 201, 204), auth=True):
        url = path if path.startswith("http") else self.base + path
        headers = {"Accept": "application/json"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = "Bearer " + self.token
        r = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                status, raw, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        except urllib.error.URLError as e:
            die(f"{method} {url}: {e.reason}")
        if status not in expect:
            die(f"{method} {url} -> {status}: {raw[:500].decode(errors='replace')}")
        text = raw.decode() if raw else ""
        parsed = json.loads(text) if text.strip().startswith(("{", "[")) else text
        return status, parsed, hdrs

    def admin_login(self, user, password):
        _, tok, _ = self.req(
            "POST",
            "/realms/master/protocol/openid-connect/token",
            form={"grant_type": "password", "client_id": "admin-cli",
                  "username": user, "password": password},
            auth=False,
        )
        self.token = tok["access_token"]


def admin(state):
    h = Http(state["KEYCLOAK_URL"])
    h.admin_login(state["KEYCLOAK_ADMIN_USER"], state["KEYCLOAK_ADMIN_PASSWORD"])
    return h


def client_uuid(h, client_id):
    _, found, _ = h.req("GET", f"/admin/realms/{REALM}/clients?clientId={urllib.parse.quote(client_id)}")
    if not found:
        die(f"client {client_id} not found in realm {REALM}")
    return found[0]["id"]


def audience_mapper(audience, id_token=False):
    return {
        "name": f"audience {audience}",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {
            "included.client.audience": audience,
            "access.token.claim": "true",
            "id.token.claim": "true" if id_token else "false",
            "introspection.token.claim": "true",
            "lightweight.claim": "false",
        },
    }


def create_client(h, rep):
    _, _, hdrs = h.req("POST", f"/admin/realms/{REALM}/clients", body=rep, expect=(201,))
    return hdrs["Location"].rstrip("/").rsplit("/", 1)[1]


def grant_client_roles(h, sa_client_uuid, role_client_uuid, roles):
    _, user, _ = h.req("GET", f"/admin/realms/{REALM}/clients/{sa_client_uuid}/service-account-user")
    reps = []
    for name in roles:
        _, r, _ = h.req("GET", f"/admin/realms/{REALM}/clients/{role_client_uuid}/roles/{urllib.parse.quote(name, safe='')}")
        reps.append({"id": r["id"], "name": r["name"]})
    h.req("POST", f"/admin/realms/{REALM}/users/{user['id']}/role-mappings/clients/{role_client_uuid}",
          body=reps, expect=(204,))


def realm_env(base):
    issuer = f"{base}/realms/{REALM}"
    oidc = f"{issuer}/protocol/openid-connect"
    env = {
        "KEYCLOAK_URL": base,
        "KEYCLOAK_REALM": REALM,
        "KEYCLOAK_ISSUER": issuer,
        "KEYCLOAK_DISCOVERY_URL": f"{issuer}/.well-known/openid-configuration",
        "KEYCLOAK_TOKEN_URL": f"{oidc}/token",
        "KEYCLOAK_JWKS_URL": f"{oidc}/certs",
        "KEYCLOAK_INTROSPECT_URL": f"{oidc}/token/introspect",
        "KEYCLOAK_AUDIENCE": AUDIENCE,
        "KEYCLOAK_RS_CLIENT_ID": "orders-api",
        "KEYCLOAK_RS_CLIENT_SECRET": CLIENTS["orders-api"]["secret"],
        "KEYCLOAK_READER_CLIENT_ID": "orders-client",
        "KEYCLOAK_READER_CLIENT_SECRET": CLIENTS["orders-client"]["secret"],
        "KEYCLOAK_WRITER_CLIENT_ID": "orders-writer",
        "KEYCLOAK_WRITER_CLIENT_SECRET": CLIENTS["orders-writer"]["secret"],
        "KEYCLOAK_OTHER_CLIENT_ID": "other-client",
        "KEYCLOAK_OTHER_CLIENT_SECRET": CLIENTS["other-client"]["secret"],
        "KEYCLOAK_RFC9068_CLIENT_ID": "orders-rfc9068",
        "KEYCLOAK_RFC9068_CLIENT_SECRET": CLIENTS["orders-rfc9068"]["secret"],
        "KEYCLOAK_PUBLIC_CLIENT_ID": "orders-cli",
        "KEYCLOAK_USER": USER,
        "KEYCLOAK_USER_PASSWORD": USER_PASSWORD,
    }
    return env


def provision(state):
    t0 = time.time()
    h = admin(state)
    status, _, _ = h.req("GET", f"/admin/realms/{REALM}", expect=(200, 404))
    if status == 200:
        log(f"realm {REALM} exists: deleting it")
        h.req("DELETE", f"/admin/realms/{REALM}", expect=(204,))
    h.req("POST", "/admin/realms", body={"realm": REALM, "enabled": True}, expect=(201,))

    confidential_sa = {
        "protocol": "openid-connect",
        "enabled": True,
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
    }
    # orders-api: the resource server. Confidential, no flow of its own.
    api = create_client(h, {
        "clientId": "orders-api", "name": "orders API (resource server)",
        "protocol": "openid-connect", "enabled": True, "publicClient": False,
        "clientAuthenticatorType": "client-secret", "secret": CLIENTS["orders-api"]["secret"],
        "serviceAccountsEnabled": False, "standardFlowEnabled": False,
        "implicitFlowEnabled": False, "directAccessGrantsEnabled": False,
    })
    for role in ("orders:read", "orders:write"):
        h.req("POST", f"/admin/realms/{REALM}/clients/{api}/roles",
              body={"name": role, "description": f"{role} on orders-api"}, expect=(201,))

    # other-client: roles of the same names, held on itself.
    other = create_client(h, dict(confidential_sa, clientId="other-client",
                                  secret=CLIENTS["other-client"]["secret"],
                                  protocolMappers=[audience_mapper(AUDIENCE)]))
    for role in ("orders:read", "orders:write"):
        h.req("POST", f"/admin/realms/{REALM}/clients/{other}/roles",
              body={"name": role, "description": f"{role} on other-client (must not count for orders-api)"},
              expect=(201,))
    grant_client_roles(h, other, other, ["orders:read", "orders:write"])

    reader = create_client(h, dict(confidential_sa, clientId="orders-client",
                                   secret=CLIENTS["orders-client"]["secret"],
                                   protocolMappers=[audience_mapper(AUDIENCE)]))
    grant_client_roles(h, reader, api, ["orders:read"])

    writer = create_client(h, dict(confidential_sa, clientId="orders-writer",
                                   secret=CLIENTS["orders-writer"]["secret"],
                                   protocolMappers=[audience_mapper(AUDIENCE)]))
    grant_client_roles(h, writer, api, ["orders:read", "orders:write"])

    rfc = create_client(h, dict(confidential_sa, clientId="orders-rfc9068",
                                secret=CLIENTS["orders-rfc9068"]["secret"],
                                attributes={"access.token.header.type.rfc9068": "true"},
                                protocolMappers=[audience_mapper(AUDIENCE)]))
    grant_client_roles(h, rfc, api, ["orders:read"])

    # orders-cli: public client, password grant, for alice's tokens. Its audience mapper
    # also puts orders-api into the ID token's aud ("ID token with our client as aud").
    create_client(h, {
        "clientId": "orders-cli", "name": "orders CLI (public)",
        "protocol": "openid-connect", "enabled": True, "publicClient": True,
        "standardFlowEnabled": False, "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": True, "serviceAccountsEnabled": False,
        "protocolMappers": [audience_mapper(AUDIENCE, id_token=True)],
    })

    # alice: complete profile (else the password grant answers "Account is not fully set up")
    _, _, hdrs = h.req("POST", f"/admin/realms/{REALM}/users", body={
        "username": USER, "enabled": True, "email": "alice@example.test", "emailVerified": True,
        "firstName": "Alice", "lastName": "Tester", "requiredActions": [],
        "credentials": [{"type": "password", "value": USER_PASSWORD, "temporary": False}],
    }, expect=(201,))
    alice = hdrs["Location"].rstrip("/").rsplit("/", 1)[1]
    _, r, _ = h.req("GET", f"/admin/realms/{REALM}/clients/{api}/roles/orders:read")
    h.req("POST", f"/admin/realms/{REALM}/users/{alice}/role-mappings/clients/{api}",
          body=[{"id": r["id"], "name": r["name"]}], expect=(204,))

    # sanity: discovery answers with the expected issuer
    env = realm_env(state["KEYCLOAK_URL"])
    _, disc, _ = h.req("GET", env["KEYCLOAK_DISCOVERY_URL"], auth=False)
    if disc.get("issuer") != env["KEYCLOAK_ISSUER"]:
        die(f"discovery issuer {disc.get('issuer')} != {env['KEYCLOAK_ISSUER']}")
    log(f"realm {REALM} provisioned in {time.time() - t0:.1f} s")
    env["KEYCLOAK_PROVISION_SECONDS"] = f"{time.time() - t0:.1f}"
    return env


def rsa_sig_components(h, realm_id):
    _, comps, _ = h.req("GET", f"/admin/realms/{REALM}/components?parent={realm_id}&type=org.keycloak.keys.KeyProvider")
    return [c for c in comps if c.get("providerId") in ("rsa-generated", "rsa")]


def rotate(state, retire_after=None, retire="passive"):
    h = admin(state)
    _, realm, _ = h.req("GET", f"/admin/realms/{REALM}")
    realm_id = realm["id"]
    _, before, _ = h.req("GET", f"/admin/realms/{REALM}/keys")
    old_kid = before.get("active", {}).get("RS256")
    old = rsa_sig_components(h, realm_id)
    prio = max([int(c.get("config", {}).get("priority", ["100"])[0]) for c in old] + [100]) + 100
    name = f"rsa-rotated-{int(time.time() * 1000)}"
    h.req("POST", f"/admin/realms/{REALM}/components", body={
        "name": name, "providerId": "rsa-generated",
        "providerType": "org.keycloak.keys.KeyProvider", "parentId": realm_id,
        "config": {"priority": [str(prio)], "enabled": ["true"], "active": ["true"],
                   "algorithm": ["RS256"], "keySize": ["2048"]},
    }, expect=(201,))
    _, after, _ = h.req("GET", f"/admin/realms/{REALM}/keys")
    new_kid = after.get("active", {}).get("RS256")
    if not new_kid or new_kid == old_kid:
        die(f"rotation did not change the active RS256 kid (still {old_kid})")
    log(f"new RS256 signing key {new_kid} (priority {prio}); previous {old_kid}")
    print(f"KEYCLOAK_OLD_KID={old_kid}")
    print(f"KEYCLOAK_NEW_KID={new_kid}")
    sys.stdout.flush()
    if retire_after is not None:
        time.sleep(retire_after)
        h = admin(state)  # the admin token may have expired meanwhile (60 s lifespan)
        for c in old:
            _, cur, _ = h.req("GET", f"/admin/realms/{REALM}/components/{c['id']}", expect=(200, 404))
            if not isinstance(cur, dict) or not cur.get("id"):
                continue
            if retire == "delete":
                h.req("DELETE", f"/admin/realms/{REALM}/components/{c['id']}", expect=(204,))
            else:
                key = "active" if retire == "passive" else "enabled"
                cur.setdefault("config", {})[key] = ["false"]
                h.req("PUT", f"/admin/realms/{REALM}/components/{c['id']}", body=cur, expect=(204,))
            log(f"retired ({retire}) key provider {c['name']} after {retire_after} s")
        print(f"KEYCLOAK_RETIRED={retire}")


def token(state, who):
    if who not in ("reader", "writer", "other", "rfc9068", "alice"):
        die(f"unknown token kind {who!r} (reader | writer | other | rfc9068 | alice)")
    print(json.dumps(fetch_token(state, who)))


def b64json(part):
    import base64
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def fetch_token(state, who):
    env = realm_env(state["KEYCLOAK_URL"])
    h = Http(state["KEYCLOAK_URL"])
    if who == "alice":
        form = {"grant_type": "password", "client_id": env["KEYCLOAK_PUBLIC_CLIENT_ID"],
                "username": USER, "password": USER_PASSWORD, "scope": "openid"}
    else:
        form = {"grant_type": "client_credentials",
                "client_id": env[f"KEYCLOAK_{who.upper()}_CLIENT_ID"],
                "client_secret": env[f"KEYCLOAK_{who.upper()}_CLIENT_SECRET"]}
    _, tok, _ = h.req("POST", env["KEYCLOAK_TOKEN_URL"], form=form, auth=False)
    return tok


def split(jwt):
    h, p, _ = jwt.split(".")
    return b64json(h), b64json(p)


def check(state):
    env = realm_env(state["KEYCLOAK_URL"])
    failed, passed = [], 0

    def ok(name, cond, detail=""):
        nonlocal passed
        if cond:
            passed += 1
        else:
            failed.append(f"{name} {detail}".strip())
            log(f"FAILED: {name} {detail}")

    h = Http(state["KEYCLOAK_URL"])
    _, disc, _ = h.req("GET", env["KEYCLOAK_DISCOVERY_URL"], auth=False)
    ok("discovery issuer", disc.get("issuer") == env["KEYCLOAK_ISSUER"], str(disc.get("issuer")))
    ok("discovery jwks_uri", disc.get("jwks_uri") == env["KEYCLOAK_JWKS_URL"], str(disc.get("jwks_uri")))
    _, jwks, _ = h.req("GET", env["KEYCLOAK_JWKS_URL"], auth=False)
    keys = jwks.get("keys", [])
    sig = [k for k in keys if k.get("use") == "sig"]
    enc = [k for k in keys if k.get("use") == "enc"]
    ok("jwks one RS256 sig key", len(sig) == 1 and sig[0].get("alg") == "RS256" and sig[0].get("kty") == "RSA", str(sig))
    ok("jwks one RSA-OAEP enc key", len(enc) == 1 and enc[0].get("alg") == "RSA-OAEP", str([k.get("alg") for k in enc]))
    ok("jwks keys carry x5c", all(k.get("x5c") for k in keys))
    kid = sig[0]["kid"] if sig else None

    def service(who, roles, holder="orders-api", hdr_typ="JWT"):
        hd, p = split(fetch_token(state, who)["access_token"])
        cid = env[f"KEYCLOAK_{who.upper()}_CLIENT_ID"]
        ok(f"{who} header", hd == {"alg": "RS256", "typ": hdr_typ, "kid": kid}, str(hd))
        ok(f"{who} typ Bearer", p.get("typ") == "Bearer", str(p.get("typ")))
        ok(f"{who} iss", p.get("iss") == env["KEYCLOAK_ISSUER"], str(p.get("iss")))
        ok(f"{who} aud", isinstance(p.get("aud"), list) and AUDIENCE in p["aud"], str(p.get("aud")))
        ok(f"{who} azp/client_id", p.get("azp") == cid and p.get("client_id") == cid,
           f"{p.get('azp')} {p.get('client_id')}")
        ra = p.get("resource_access", {})
        ok(f"{who} roles on {holder}", sorted(ra.get(holder, {}).get("roles", [])) == sorted(roles), str(ra))
        if holder != "orders-api":
            ok(f"{who} no orders-api roles", "orders-api" not in ra, str(ra))
        ok(f"{who} scope string", isinstance(p.get("scope"), str), str(p.get("scope")))
        ok(f"{who} no nbf", "nbf" not in p)

    service("reader", ["orders:read"])
    service("writer", ["orders:read", "orders:write"])
    service("other", ["orders:read", "orders:write"], holder="other-client")
    service("rfc9068", ["orders:read"], hdr_typ="at+jwt")

    tok = fetch_token(state, "alice")
    _, at = split(tok["access_token"])
    ok("alice access typ Bearer", at.get("typ") == "Bearer", str(at.get("typ")))
    ok("alice access azp", at.get("azp") == "orders-cli" and "client_id" not in at, f"{at.get('azp')} {at.get('client_id')}")
    hd, idt = split(tok["id_token"])
    ok("id token header", hd == {"alg": "RS256", "typ": "JWT", "kid": kid}, str(hd))
    ok("id token typ ID", idt.get("typ") == "ID", str(idt.get("typ")))
    ok("id token aud holds orders-api", AUDIENCE in idt.get("aud", []), str(idt.get("aud")))
    ok("id token no scope/roles", "scope" not in idt and "resource_access" not in idt)
    rh, rp = split(tok["refresh_token"])
    ok("refresh token HS512 typ Refresh", rh.get("alg") == "HS512" and rp.get("typ") == "Refresh", f"{rh} {rp.get('typ')}")

    # rotation: new active key signs, old one stays published while passive
    import io, contextlib
    with contextlib.redirect_stdout(io.StringIO()):
        rotate(state, retire_after=0, retire="passive")
    hd, _ = split(fetch_token(state, "reader")["access_token"])
    _, jwks2, _ = h.req("GET", env["KEYCLOAK_JWKS_URL"], auth=False)
    sig2 = [k["kid"] for k in jwks2["keys"] if k.get("use") == "sig"]
    ok("rotation: token signed with a new kid", hd.get("kid") not in (None, kid), str(hd.get("kid")))
    # (the order of keys in the JWKS is not stable: compare as sets)
    ok("rotation: jwks lists new and old (passive) sig keys", sorted(sig2) == sorted([hd.get("kid"), kid]), str(sig2))

    print(f"keycloak check: {passed} ok, {len(failed)} failing")
    if failed:
        sys.exit(1)


def main(argv):
    if not argv:
        die(__doc__)
    state = load_state()
    cmd = argv[0]
    if cmd == "provision":
        env = provision(state)
        out = os.environ.get("KC_REALM_ENV")
        lines = "".join(f"{k}={v}\n" for k, v in env.items())
        if out:
            with open(out + ".tmp", "w") as f:
                f.write(lines)
            os.replace(out + ".tmp", out)
        sys.stdout.write(lines)
    elif cmd == "rotate":
        retire_after, retire = None, "passive"
        rest = argv[1:]
        while rest:
            if rest[0] == "--retire-after" and len(rest) > 1:
                retire_after = float(rest[1]); rest = rest[2:]
            elif rest[0] == "--retire" and len(rest) > 1 and rest[1] in ("passive", "disable", "delete"):
                retire = rest[1]; rest = rest[2:]
            else:
                die(f"bad rotate arguments {rest} (--retire-after SECONDS, --retire passive|disable|delete)")
        rotate(state, retire_after, retire)
    elif cmd == "token":
        if len(argv) != 2:
            die("usage: token reader|writer|other|rfc9068|alice")
        token(state, argv[1])
    elif cmd == "check":
        check(state)
    elif cmd == "keys":
        h = admin(state)
        _, keys, _ = h.req("GET", f"/admin/realms/{REALM}/keys")
        print(json.dumps(keys, indent=2))
    else:
        die(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
