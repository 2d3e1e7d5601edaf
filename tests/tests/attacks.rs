//! The attack suite (issue 7 §1): hostile tokens and requests sent over real HTTP to the
//! real axum-orders router (127.0.0.1:0, keys from a JWKS served over HTTP). One test per
//! class; every case asserts the exact status and `WWW-Authenticate` header.
//!
//! The router allows `RS256, PS256, ES256, EdDSA, HS256, HS384, HS512` so that the
//! key-confusion class is refused by key selection (the kid names an RSA/EC key), not
//! merely by the algorithm allow-list. The JWKS holds an RSA, a P-256 and an Ed25519 key
//! and no HMAC secret.
//!
//! What the wire shows (`realm="orders"`):
//! - malformed tokens (format, base64, JSON, duplicates, JWE, nesting, size cap) →
//!   401 `invalid_token` "The access token is malformed";
//! - header, key and signature refusals, and claims refusals other than time →
//!   401 `invalid_token` "The access token is invalid";
//! - a broken `Authorization` header (not a token68, two headers) → 400 `invalid_request`;
//! - no token (query string, body, other scheme) → 401 with the bare challenge;
//! - a 1 MB header never reaches tollgate: hyper refuses it with 431 (see `huge_token`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::Method;
use serde_json::json;
use tollgate_core::alg::Algorithm;
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, JwksServer, TestKey, b64url, now};
use tollgate_tests::{Reply, send};

const BARE: &str = r#"Bearer realm="orders""#;
const INVALID: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is invalid""#;
const MALFORMED: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is malformed""#;
const EXPIRED: &str =
    r#"Bearer realm="orders", error="invalid_token", error_description="The access token expired""#;
const NOT_YET: &str = r#"Bearer realm="orders", error="invalid_token", error_description="The access token is not yet valid""#;
const BAD_HEADER: &str = r#"Bearer realm="orders", error="invalid_request", error_description="Malformed Authorization header""#;
const TWO_HEADERS: &str = r#"Bearer realm="orders", error="invalid_request", error_description="More than one Authorization header""#;

/// P-256 group order n.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

struct App {
    base: String,
    rsa: TestKey,
    ec: TestKey,
    ed: TestKey,
    jwks: JwksServer,
}

async fn start() -> App {
    let rsa = TestKey::rsa("rsa-1");
    let ec = TestKey::p256("ec-1");
    let ed = TestKey::ed25519("ed-1");
    let (jwks_url, jwks) = tollgate_testkit::serve_jwks(TestKey::jwks([&rsa, &ec, &ed])).await;
    let env: HashMap<&str, String> = [
        ("TOLLGATE_ISSUER", DEFAULT_ISSUER.to_owned()),
        ("TOLLGATE_AUDIENCE", DEFAULT_AUDIENCE.to_owned()),
        ("TOLLGATE_JWKS_URI", jwks_url),
        (
            "TOLLGATE_ALGORITHMS",
            "RS256,PS256,ES256,EdDSA,HS256,HS384,HS512".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let config = axum_orders::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let gate = config.tollgate().build().await.unwrap();
    let base = tollgate_tests::serve(axum_orders::router(&gate)).await;
    App {
        base,
        rsa,
        ec,
        ed,
        jwks,
    }
}

impl App {
    /// GET `path` with these raw headers.
    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        send(Method::GET, &format!("{}{path}", self.base), headers, "").await
    }

    /// GET /me with `Authorization: Bearer <token>`.
    async fn me(&self, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.get_with("/me", &[("authorization", &auth)]).await
    }

    /// Sends `token` to /me and asserts status and challenge; `case` names the case.
    async fn expect(&self, case: &str, token: &str, status: u16, challenge: &str) {
        let r = self.me(token).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (status, challenge),
            "case {case}"
        );
        if status != 200 {
            assert!(r.body.is_empty(), "case {case}: body {:?}", r.body);
        }
    }

    async fn refused(&self, case: &str, token: &str, challenge: &str) {
        self.expect(case, token, 401, challenge).await;
    }

    async fn accepted(&self, case: &str, token: &str) {
        self.expect(case, token, 200, "").await;
    }
}

fn split_sig(token: &str) -> (&str, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    (input, URL_SAFE_NO_PAD.decode(sig).unwrap())
}

fn with_sig(token: &str, sig: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64url(sig))
}

fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    STANDARD.decode(b64).unwrap()
}

/// The attacker's own P-256 key and self-signed certificate (tests/fixtures/attacks,
/// made once with openssl; never trusted by anything).
fn attacker() -> (EcdsaKeyPair, serde_json::Value, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/attacks");
    let pk8 = pem_body(&std::fs::read_to_string(format!("{dir}/attacker-p256.pk8.pem")).unwrap());
    let cert =
        pem_body(&std::fs::read_to_string(format!("{dir}/attacker-selfsigned.crt.pem")).unwrap());
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pk8).unwrap();
    let point = kp.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
        "x": b64url(&point[1..33]), "y": b64url(&point[33..])});
    (kp, jwk, STANDARD.encode(cert))
}

/// Signs the builder's signing input with the attacker's key (ES256).
fn attacker_sign(kp: &EcdsaKeyPair, tb: &tollgate_testkit::TokenBuilder) -> String {
    let input = tb.signing_input();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sig = kp.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(sig.as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_each_key_is_accepted() {
    let app = start().await;
    app.accepted("rsa", &app.rsa.token().sign()).await;
    app.accepted("ps256", &app.rsa.token().alg(Algorithm::PS256).sign())
        .await;
    app.accepted("ec", &app.ec.token().sign()).await;
    app.accepted("ed", &app.ed.token().sign()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_none_in_every_casing() {
    let app = start().await;
    for none in ["none", "None", "NONE", "nOnE", "NoNe", "nonE"] {
        let tb = app.ec.token().header("alg", none);
        let with_dot = tb.unsigned();
        app.refused(none, &with_dot, INVALID).await;
        // a real signature appended does not help
        app.refused(none, &format!("{with_dot}{}", b64url([7u8; 64])), INVALID)
            .await;
        // without the trailing dot the token has two segments: not a JWS at all
        app.refused(none, with_dot.trim_end_matches('.'), MALFORMED)
            .await;
        // and with the kid removed
        app.refused(none, &tb.without_header("kid").unsigned(), INVALID)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_truncated_and_wrong_length_signatures() {
    let app = start().await;
    for (name, key) in [("rsa", &app.rsa), ("ec", &app.ec), ("ed", &app.ed)] {
        let t = key.token().sign();
        let (input, sig) = split_sig(&t);
        // empty signature: "h.p."
        app.refused(name, &format!("{input}."), MALFORMED).await;
        // truncated (bytes), extended, halved, one byte, all zeros of the right length
        for bad in [
            sig[..sig.len() - 1].to_vec(),
            [sig.as_slice(), &[0]].concat(),
            sig[..sig.len() / 2].to_vec(),
            vec![sig[0]],
            vec![0u8; sig.len()],
            [sig.as_slice(), sig.as_slice()].concat(),
        ] {
            app.refused(name, &with_sig(&t, &bad), INVALID).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_signed_with_the_public_key() {
    let app = start().await;
    for (name, key) in [("rsa", &app.rsa), ("ec", &app.ec), ("ed", &app.ed)] {
        let jwk = key.jwk();
        // raw bytes: the RSA modulus, the EC point x||y, the Ed25519 x
        let raw: Vec<u8> = match jwk["kty"].as_str().unwrap() {
            "RSA" => URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
            "EC" => [
                URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap(),
                URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap(),
            ]
            .concat(),
            _ => URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap(),
        };
        let secrets = [
            ("pem", key.public_pem().into_bytes()),
            (
                "pem-no-newline",
                key.public_pem().trim_end().as_bytes().to_vec(),
            ),
            ("der", key.public_der()),
            ("jwk", jwk.to_string().into_bytes()),
            ("jwks", TestKey::jwks([key]).to_string().into_bytes()),
            ("raw", raw),
        ];
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            for (form, secret) in &secrets {
                let case = format!("{name} {alg} {form}");
                // keeping the real kid: the kid names an asymmetric key
                let t = key.token().alg(alg).sign_hmac_with(alg, secret);
                app.refused(&case, &t, INVALID).await;
                // without a kid: no HMAC key at all in the set
                let t = key
                    .token()
                    .alg(alg)
                    .without_header("kid")
                    .sign_hmac_with(alg, secret);
                app.refused(&case, &t, INVALID).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_jwk_header() {
    let app = start().await;
    let (kp, jwk, _) = attacker();
    // the attacker's key embedded, under our kid, under its own kid, and with no kid
    for kid in [Some("ec-1"), Some("attacker"), None] {
        let mut tb = app.ec.token().header("jwk", jwk.clone());
        tb = match kid {
            Some(k) => tb.header("kid", k),
            None => tb.without_header("kid"),
        };
        app.refused(
            &format!("jwk kid={kid:?}"),
            &attacker_sign(&kp, &tb),
            INVALID,
        )
        .await;
    }
    // embedded JWK naming our own key's kid inside it
    let mut ours = jwk.clone();
    ours["kid"] = "ec-1".into();
    let tb = app.ec.token().header("jwk", ours);
    app.refused("jwk with kid inside", &attacker_sign(&kp, &tb), INVALID)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jku_x5u_and_x5c_are_never_used() {
    let app = start().await;
    let (kp, mut jwk, cert) = attacker();
    jwk["kid"] = "attacker".into();
    let (attacker_jwks, attacker_server) =
        tollgate_testkit::serve_jwks(json!({"keys": [jwk.clone()]})).await;
    let x5u = format!("{}/cert.pem", attacker_server.base_url());
    for kid in ["attacker", "ec-1"] {
        for (name, tb) in [
            ("jku", app.ec.token().header("jku", attacker_jwks.as_str())),
            ("x5u", app.ec.token().header("x5u", x5u.as_str())),
            ("x5c", app.ec.token().header("x5c", json!([cert.clone()]))),
            (
                "all",
                app.ec
                    .token()
                    .header("jku", attacker_jwks.as_str())
                    .header("x5u", x5u.as_str())
                    .header("x5c", json!([cert.clone()]))
                    .header("jwk", jwk.clone()),
            ),
        ] {
            let t = attacker_sign(&kp, &tb.header("kid", kid));
            app.refused(&format!("{name} kid={kid}"), &t, INVALID).await;
        }
    }
    // even a token signed by our real key is not sent to the attacker's URLs
    let t = app
        .ec
        .token()
        .header("jku", attacker_jwks.as_str())
        .header("x5u", x5u.as_str())
        .sign();
    app.accepted("real key with jku/x5u", &t).await;
    assert_eq!(
        attacker_server.total_requests(),
        0,
        "attacker was contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_kid_values() {
    let app = start().await;
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "file:///etc/passwd",
        "http://127.0.0.1:1/jwks",
        "?kid=ec-1",
        "ec-1/../ec-1",
        "' OR '1'='1",
        "ec-1'; DROP TABLE keys; --",
        "ec-1\u{0000}",
        "EC-1",
        " ec-1",
        "unknown",
        "",
    ] {
        // signed by our real key, but the kid is not exactly ours
        app.refused(kid, &app.ec.token().header("kid", kid).sign(), INVALID)
            .await;
    }
    // non-strings
    for kid in [
        json!(5),
        json!(true),
        json!(["ec-1"]),
        json!({"kid": "ec-1"}),
    ] {
        let t = app.ec.token().header("kid", kid.clone()).sign();
        app.refused(&kid.to_string(), &t, INVALID).await;
    }
    // too long to be one of ours but under the token cap: refused as an invalid kid
    let t = app.ec.token().header("kid", "k".repeat(1000)).sign();
    app.refused("1000-byte kid", &t, INVALID).await;
    // 100 KB: the token is over the 8 KiB cap, refused before any decoding
    let t = app.ec.token().header("kid", "k".repeat(100 * 1024)).sign();
    app.refused("100 KB kid", &t, MALFORMED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_out_of_range_scalars() {
    let app = start().await;
    let t = app.ec.token().sign();
    let (_, sig) = split_sig(&t);
    let (r, s) = sig.split_at(32);
    let zero = [0u8; 32];
    let max = [0xffu8; 32];
    let mut n_plus_1 = P256_N;
    n_plus_1[31] += 1;
    let one = {
        let mut o = [0u8; 32];
        o[31] = 1;
        o
    };
    for (name, r, s) in [
        ("r=s=0", &zero[..], &zero[..]),
        ("r=0", &zero[..], s),
        ("s=0", r, &zero[..]),
        ("r=n", &P256_N[..], s),
        ("s=n", r, &P256_N[..]),
        ("r=s=n", &P256_N[..], &P256_N[..]),
        ("r=n+1", &n_plus_1[..], s),
        ("s=n+1", r, &n_plus_1[..]),
        ("r=2^256-1", &max[..], s),
        ("s=2^256-1", r, &max[..]),
        ("r=s=1", &one[..], &one[..]),
    ] {
        app.refused(name, &with_sig(&t, &[r, s].concat()), INVALID)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_canonical_base64url() {
    let app = start().await;
    let good = app.ec.token().sign();
    app.accepted("control", &good).await;
    let mut it = good.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    // trailing padding is token68-legal: it reaches the decoder, which refuses it
    app.refused("sig==", &format!("{h}.{p}.{s}=="), MALFORMED)
        .await;
    // standard alphabet
    let std_sig = STANDARD.encode(URL_SAFE_NO_PAD.decode(s).unwrap());
    let std_sig = std_sig.trim_end_matches('=');
    if std_sig.contains(['+', '/']) {
        app.refused("std alphabet sig", &format!("{h}.{p}.{std_sig}"), MALFORMED)
            .await;
    }
    app.refused("+ in sig", &format!("{h}.{p}.+{}", &s[1..]), MALFORMED)
        .await;
    app.refused("/ in sig", &format!("{h}.{p}./{}", &s[1..]), MALFORMED)
        .await;
    app.refused("/ in header", &format!("/{}.{p}.{s}", &h[1..]), MALFORMED)
        .await;
    // changed padding bits: a 64-byte signature ends in a symbol with 4 unused bits
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = s.as_bytes()[s.len() - 1];
    let idx = alphabet.iter().position(|&c| c == last).unwrap();
    let tweaked = alphabet[idx ^ 1] as char;
    app.refused(
        "padding bits",
        &format!("{h}.{p}.{}{tweaked}", &s[..s.len() - 1]),
        MALFORMED,
    )
    .await;
    // 4n+1 characters can never be base64
    app.refused("4n+1 header", &format!("{h}AAAA{}.{p}.{s}", "A"), MALFORMED)
        .await;
    // padding inside the token and whitespace are not token68: a broken header (400).
    // (Trailing whitespace is optional whitespace in HTTP: hyper strips it before any
    // middleware sees the value, so "<token>\t" is simply the token.)
    for bad in [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{s} x"),
        format!("{h}.{p}\t.{s}"),
        format!("{h}.%2E{p}.{s}"),
    ] {
        let r = app
            .get_with("/me", &[("authorization", &format!("Bearer {bad}"))])
            .await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (400, BAD_HEADER),
            "{bad}"
        );
    }
}

/// A complete RFC 9068 claim set as JSON text, with `claim` set to the raw JSON `raw`.
fn claims_with(claim: &str, raw: &str) -> String {
    let n = now();
    let mut members = vec![
        format!(r#""iss":"{DEFAULT_ISSUER}""#),
        format!(r#""aud":"{DEFAULT_AUDIENCE}""#),
        r#""sub":"u","client_id":"c","jti":"j""#.to_owned(),
    ];
    for (name, value) in [("iat", n), ("exp", n + 300)] {
        if name != claim {
            members.push(format!(r#""{name}":{value}"#));
        }
    }
    members.push(format!(r#""{claim}":{raw}"#));
    format!("{{{}}}", members.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_numeric_dates() {
    let app = start().await;
    let k = &app.ec;
    for claim in ["exp", "nbf", "iat"] {
        for bad in [
            json!("4102444800"),
            json!(now().to_string()),
            json!(-1),
            json!(-4_102_444_800i64),
            json!(1e300),
            json!(18_446_744_073_709_551_615u64),
            json!(true),
            json!(null),
            json!([now()]),
            json!({"$date": now()}),
        ] {
            let case = format!("{claim}={bad}");
            let t = k.token().claim(claim, bad.clone()).sign();
            // `null` counts as absent: absent nbf is fine, absent exp/iat are not
            if bad.is_null() && claim == "nbf" {
                app.accepted(&case, &t).await;
            } else {
                app.refused(&case, &t, INVALID).await;
            }
        }
        // numbers JSON parsers disagree on, as raw text: 1e309 (infinite as f64) and
        // 2^64 (beyond u64)
        for raw in ["1e309", "18446744073709551616", "-1e309", "1E400"] {
            let t = k.token().raw_claims(&claims_with(claim, raw)).sign();
            let want = if raw.starts_with('1') && raw.len() == 20 {
                INVALID // parses as 1.8e19: out of NumericDate range
            } else {
                MALFORMED // not a finite JSON number: the claims do not parse
            };
            app.refused(&format!("{claim}={raw}"), &t, want).await;
        }
    }
    // floats are valid NumericDates (RFC 7519 §2): accepted in range, expired when past
    app.accepted(
        "exp float",
        &k.token().claim("exp", now() as f64 + 100.5).sign(),
    )
    .await;
    app.refused(
        "exp float past",
        &k.token().claim("exp", now() as f64 - 100.5).sign(),
        EXPIRED,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_future_claims() {
    let app = start().await;
    let k = &app.ec;
    for claim in ["exp", "iss", "aud", "sub", "client_id", "iat", "jti"] {
        app.refused(claim, &k.token().without(claim).sign(), INVALID)
            .await;
    }
    // beyond the 30 s leeway
    app.refused("nbf+120", &k.token().not_before_in(120).sign(), NOT_YET)
        .await;
    app.refused("iat+120", &k.token().issued_in(120).sign(), INVALID)
        .await;
    app.refused("exp-120", &k.token().expires_in(-120).sign(), EXPIRED)
        .await;
    // within the leeway
    app.accepted("nbf+10", &k.token().not_before_in(10).sign())
        .await;
    app.accepted("iat+10", &k.token().issued_in(10).sign())
        .await;
    app.accepted("exp-10", &k.token().expires_in(-10).sign())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_json_members() {
    let app = start().await;
    let k = &app.ec;
    for header in [
        r#"{"alg":"ES256","alg":"ES256","kid":"ec-1","typ":"at+jwt"}"#,
        r#"{"alg":"none","alg":"ES256","kid":"ec-1","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"nope","kid":"ec-1","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"ec-1","typ":"JWT","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","\u0061lg":"ES256","kid":"ec-1","typ":"at+jwt"}"#,
        r#"{"alg":"ES256","kid":"ec-1","typ":"at+jwt","x":{"a":1,"a":2}}"#,
    ] {
        app.refused(header, &k.token().raw_header(header).sign(), MALFORMED)
            .await;
    }
    let n = now();
    let base = format!(
        r#""iss":"{DEFAULT_ISSUER}","aud":"{DEFAULT_AUDIENCE}","sub":"u","client_id":"c","jti":"j","iat":{n}"#
    );
    for claims in [
        format!(
            r#"{{{base},"exp":{},"scope":"orders:read","scope":"admin"}}"#,
            n + 300
        ),
        format!(r#"{{{base},"exp":{},"exp":{}}}"#, n - 3600, n + 300),
        format!(r#"{{{base},"exp":{},"aud":"someone-else"}}"#, n + 300),
        format!(
            r#"{{{base},"exp":{},"\u0073cope":"a","scope":"b"}}"#,
            n + 300
        ),
    ] {
        app.refused(&claims, &k.token().raw_claims(&claims).sign(), MALFORMED)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crit_and_b64_false() {
    let app = start().await;
    let k = &app.ec;
    for (name, tb) in [
        (
            "crit unknown",
            k.token().header("crit", json!(["x-unknown"])),
        ),
        ("crit exp", k.token().header("crit", json!(["exp"]))),
        ("crit empty", k.token().header("crit", json!([]))),
        ("crit string", k.token().header("crit", "b64")),
        (
            "b64 false + crit",
            k.token()
                .header("b64", false)
                .header("crit", json!(["b64"])),
        ),
        ("b64 false alone", k.token().header("b64", false)),
        ("b64 true", k.token().header("b64", true)),
    ] {
        app.refused(name, &tb.sign(), INVALID).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwe_json_serialization_and_nesting() {
    let app = start().await;
    let k = &app.ec;
    let good = k.token().sign();
    // five segments (a JWE shape), with a real-looking protected header
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64url(r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa-1"}"#),
        b64url([1u8; 256]),
        b64url([2u8; 12]),
        b64url([3u8; 40]),
        b64url([4u8; 16])
    );
    app.refused("jwe", &jwe, MALFORMED).await;
    app.refused("jwe from jws", &format!("{good}.AAAA.AAAA"), MALFORMED)
        .await;
    app.refused("4 segments", &format!("{good}.AAAA"), MALFORMED)
        .await;
    // a JWE-shaped header in a three-segment token
    let t = k
        .token()
        .header("enc", "A256GCM")
        .header("alg", "dir")
        .sign_hmac_with(Algorithm::HS256, b"x");
    app.refused("alg dir", &t, INVALID).await;
    // JSON serialization (RFC 7515 §7.2): not a token68, so a broken header
    let (input, sig) = good.rsplit_once('.').unwrap();
    let (h, p) = input.split_once('.').unwrap();
    for json in [
        json!({"payload": p, "protected": h, "signature": sig}).to_string(),
        json!({"payload": p, "signatures": [{"protected": h, "signature": sig}]}).to_string(),
    ] {
        let r = app
            .get_with("/me", &[("authorization", &format!("Bearer {json}"))])
            .await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (400, BAD_HEADER)
        );
        // base64url-encoded JSON serialization is one segment: malformed
        app.refused("b64 json jws", &b64url(&json), MALFORMED).await;
    }
    // nested: cty JWT (any casing), with the inner token as the payload
    for cty in ["JWT", "jwt", "Jwt"] {
        app.refused(cty, &k.token().header("cty", cty).sign(), MALFORMED)
            .await;
    }
    let inner = k.token().sign();
    let nested = k
        .token()
        .header("cty", "JWT")
        .raw_claims(&format!("\"{inner}\""))
        .sign();
    app.refused("nested payload", &nested, MALFORMED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_where_access_token_required() {
    let app = start().await;
    let k = &app.rsa;
    // an OIDC ID token: typ JWT (or none), with nonce/auth_time, aud = our audience
    let id = k
        .token()
        .header("typ", "JWT")
        .claim("nonce", "n-0S6_WzA2Mj")
        .claim("auth_time", now() - 10);
    app.refused("typ JWT", &id.sign(), INVALID).await;
    app.refused("no typ", &id.clone().without_header("typ").sign(), INVALID)
        .await;
    for typ in [
        "jwt",
        "id_token+jwt",
        "logout+jwt",
        "dpop+jwt",
        "at+JWT+x",
        "",
    ] {
        app.refused(typ, &k.token().header("typ", typ).sign(), INVALID)
            .await;
    }
    app.refused("typ 1", &k.token().header("typ", 1).sign(), INVALID)
        .await;
    // RFC 9068 values in any casing are accepted
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        app.accepted(typ, &k.token().header("typ", typ).sign())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_prefix_tricks() {
    let app = start().await;
    for iss in [
        "https://idp.tollgate.test.evil",
        "https://idp.tollgate.test/",
        "https://idp.tollgate.test/.",
        "https://idp.tollgate.test#",
        "https://idp.tollgate.test?",
        "https://idp.tollgate.test@evil.example",
        "https://idp.tollgate.tes",
        "HTTPS://idp.tollgate.test",
        "https://IDP.tollgate.test",
        "http://idp.tollgate.test",
        "https://idp.tollgate.test:443",
        " https://idp.tollgate.test",
        "https://idp.tollgate.test ",
        "https://idp.tollgate.test\u{0000}",
        "",
    ] {
        app.refused(iss, &app.ec.token().issuer(iss).sign(), INVALID)
            .await;
    }
    for iss in [
        json!(["https://idp.tollgate.test"]),
        json!(1),
        json!({"iss": "https://idp.tollgate.test"}),
    ] {
        // a non-string iss does not parse as a claim set
        let t = app.ec.token().claim("iss", iss.clone()).sign();
        app.refused(&iss.to_string(), &t, MALFORMED).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audience_string_or_array() {
    let app = start().await;
    let k = &app.ec;
    app.accepted("string", &k.token().audience(DEFAULT_AUDIENCE).sign())
        .await;
    app.accepted(
        "array of one",
        &k.token().audiences(&[DEFAULT_AUDIENCE]).sign(),
    )
    .await;
    app.accepted(
        "array containing ours",
        &k.token()
            .audiences(&["https://other.example", DEFAULT_AUDIENCE, "x"])
            .sign(),
    )
    .await;
    for (name, aud) in [
        ("other", json!("someone-else")),
        ("prefix", json!("tollgate-test")),
        ("suffix", json!("tollgate-tests-evil")),
        ("case", json!("Tollgate-Tests")),
        ("space", json!("tollgate-tests ")),
        ("joined", json!("tollgate-tests other")),
        ("array without ours", json!(["a", "b"])),
        ("empty array", json!([])),
        ("empty string", json!("")),
    ] {
        app.refused(name, &k.token().claim("aud", aud).sign(), INVALID)
            .await;
    }
    // neither a string nor an array of strings: the claim set does not parse
    for (name, aud) in [
        ("nested array", json!([[DEFAULT_AUDIENCE]])),
        ("number", json!(5)),
        ("object", json!({"aud": DEFAULT_AUDIENCE})),
        ("array with non-string", json!([DEFAULT_AUDIENCE, 5])),
    ] {
        app.refused(name, &k.token().claim("aud", aud).sign(), MALFORMED)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scope_strings() {
    let app = start().await;
    let k = &app.ec;
    let orders = |token: String| {
        let base = app.base.clone();
        async move {
            let a = format!("Bearer {token}");
            send(
                Method::GET,
                &format!("{base}/orders"),
                &[("authorization", &a)],
                "",
            )
            .await
        }
    };
    let r = orders(k.token().scope("orders:read").sign()).await;
    assert_eq!(r.status, 200);
    for scope in [
        "orders:read  orders:write",
        " orders:read",
        "orders:read ",
        "orders:read\torders:write",
        "orders:read\norders:write",
        "orders:\"read",
        "orders:\\read",
        "orders:réad",
        "orders:read\u{0000}",
    ] {
        // refused as a token (401), never as "insufficient scope" and never split
        // into something that grants orders:read
        let t = k.token().scope(scope).sign();
        let r = orders(t.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (401, INVALID),
            "{scope:?}"
        );
        app.refused(scope, &t, INVALID).await;
    }
    for (name, scp) in [
        ("scp with space", json!(["orders:read orders:write"])),
        ("scp non-string", json!(["orders:read", 5])),
        ("scp string", json!(5)),
        ("scope array", json!(["orders:read"])),
    ] {
        let claim = if name.starts_with("scope") {
            "scope"
        } else {
            "scp"
        };
        let t = k.token().claim(claim, scp).sign();
        let r = orders(t).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (401, INVALID),
            "{name}"
        );
    }
    // valid scope-tokens that merely look like ours: a 403, not a 401 (a comma is a
    // legal NQCHAR, so "orders:read,orders:write" is ONE scope)
    for scope in [
        "orders:readx ORDERS:READ",
        "orders:read,orders:write",
        "orders:read;orders:write",
        "orders:*",
    ] {
        let r = orders(k.token().scope(scope).sign()).await;
        assert_eq!(r.status, 403, "{scope:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_token() {
    let app = start().await;
    let good = app.ec.token().sign();
    // 1 MB: over hyper's HTTP/1 header buffer (~400 KB by default), so hyper itself
    // answers 431 Request Header Fields Too Large and closes the connection; tollgate
    // never sees it, hence no challenge. That is the right observable for a resource
    // server: the request is refused before any token work, with bounded memory.
    let mb = format!("{}.{}.{}", "a".repeat(1 << 20), "b", "c");
    let t0 = Instant::now();
    let r = app.me(&mb).await;
    assert_eq!((r.status.as_u16(), r.header("www-authenticate")), (431, ""));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // 100 KB (under hyper's cap, over tollgate's 8 KiB cap): refused before decoding
    for len in [8 * 1024 + 1, 100 * 1024, 300 * 1024] {
        let t = format!("{}.{}.{}", "a".repeat(len), "b", "c");
        let t0 = Instant::now();
        app.refused(&format!("{len} bytes"), &t, MALFORMED).await;
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }
    // a real token padded into a big claim: same answer
    let t = app.ec.token().claim("pad", "x".repeat(100 * 1024)).sign();
    app.refused("100 KB claim", &t, MALFORMED).await;
    // the server still answers normally afterwards
    app.accepted("after", &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json() {
    let app = start().await;
    let k = &app.ec;
    // 10,000-deep header: 26 KB of base64, over the token cap: refused before decoding
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let t0 = Instant::now();
    app.refused(
        "10k deep header",
        &format!("{}.{}.AAAA", b64url(&deep), b64url("{}")),
        MALFORMED,
    )
    .await;
    // 10,000-deep object inside an otherwise valid header: same
    let obj = format!(
        r#"{{"alg":"ES256","kid":"ec-1","typ":"at+jwt","x":{}1{}}}"#,
        r#"{"a":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    app.refused(
        "10k deep member",
        &k.token().raw_header(&obj).sign(),
        MALFORMED,
    )
    .await;
    // as deep as fits under the 8 KiB cap (2,500 levels): refused by the JSON depth
    // limit (serde_json, 128), no stack overflow, in the header and in the claims
    let d = 2_500;
    let deep = format!("{}{}", "[".repeat(d), "]".repeat(d));
    let t = format!("{}.{}.AAAA", b64url(&deep), b64url("{}"));
    assert!(t.len() < 8 * 1024, "{}", t.len());
    app.refused("2.5k deep header", &t, MALFORMED).await;
    let claims = format!(
        r#"{{"iss":"{DEFAULT_ISSUER}","x":{}{}}}"#,
        "[".repeat(d),
        "]".repeat(d)
    );
    let t = k.token().raw_claims(&claims).sign();
    assert!(t.len() < 8 * 1024, "{}", t.len());
    app.refused("2.5k deep claims", &t, MALFORMED).await;
    // 129 levels (just past the limit) in an extra claim of a valid token
    let t = k
        .token()
        .raw_claims(&format!(
            r#"{{"iss":"{DEFAULT_ISSUER}","aud":"{DEFAULT_AUDIENCE}","sub":"u","client_id":"c","jti":"j","iat":{},"exp":{},"x":{}{}}}"#,
            now(),
            now() + 300,
            "[".repeat(129),
            "]".repeat(129)
        ))
        .sign();
    app.refused("129 deep claim", &t, MALFORMED).await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers() {
    let app = start().await;
    let good = format!("Bearer {}", app.ec.token().sign());
    let other = format!("Bearer {}", app.rsa.token().sign());
    for headers in [
        vec![
            ("authorization", good.as_str()),
            ("authorization", good.as_str()),
        ],
        vec![
            ("authorization", good.as_str()),
            ("authorization", other.as_str()),
        ],
        vec![
            ("authorization", good.as_str()),
            ("authorization", "Basic dXNlcjpwYXNz"),
        ],
        vec![
            ("authorization", "Bearer x"),
            ("authorization", good.as_str()),
        ],
    ] {
        let r = app.get_with("/me", &headers).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (400, TWO_HEADERS)
        );
    }
    // two tokens in one header (comma-joined, as a proxy would fold them)
    let folded = format!("{good}, {other}");
    let r = app.get_with("/me", &[("authorization", &folded)]).await;
    assert_eq!(
        (r.status.as_u16(), r.header("www-authenticate")),
        (400, BAD_HEADER)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_only_in_query_string_or_body() {
    let app = start().await;
    let t = app.ec.token().scope("orders:read orders:write").sign();
    for path in [
        format!("/me?access_token={t}"),
        format!("/orders?access_token={t}"),
        format!("/me?authorization=Bearer%20{t}"),
    ] {
        let r = app.get_with(&path, &[]).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (401, BARE),
            "{path}"
        );
    }
    // form-encoded body (RFC 6750 §2.2) is not read either
    let r = send(
        Method::POST,
        &format!("{}/orders", app.base),
        &[("content-type", "application/x-www-form-urlencoded")],
        &format!("access_token={t}"),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.header("www-authenticate")),
        (401, BARE)
    );
    // other schemes and other headers count as no token
    for (name, value) in [
        ("authorization", format!("Basic {t}")),
        ("authorization", format!("Token {t}")),
        ("authorization", format!("Bearer{t}")),
        ("x-access-token", t.clone()),
        ("cookie", format!("access_token={t}")),
    ] {
        let r = app.get_with("/me", &[(name, &value)]).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (401, BARE),
            "{name}: {}",
            &value[..12]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_scheme_is_case_insensitive() {
    let app = start().await;
    let t = app.ec.token().sign();
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        for sep in [" ", "   "] {
            let r = app
                .get_with("/me", &[("authorization", &format!("{scheme}{sep}{t}"))])
                .await;
            assert_eq!(r.status, 200, "{scheme:?}{sep:?}");
        }
    }
    // the scheme alone, with nothing after it, or with other whitespace than SP before
    // the token (found by fuzz/bearer: a tab used to be skipped like a space)
    let tab = format!("Bearer \t{t}");
    let tab_only = format!("Bearer\t{t}");
    for value in ["Bearer", "Bearer ", "bearer   ", &tab] {
        let r = app.get_with("/me", &[("authorization", value)]).await;
        assert_eq!(
            (r.status.as_u16(), r.header("www-authenticate")),
            (400, BAD_HEADER),
            "{value:?}"
        );
    }
    // "Bearer<TAB>token" is not the Bearer scheme at all: no token
    let r = app.get_with("/me", &[("authorization", &tab_only)]).await;
    assert_eq!(
        (r.status.as_u16(), r.header("www-authenticate")),
        (401, BARE)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_floods_are_bounded() {
    // many forged kids: at most one JWKS refresh per cooldown window reaches the IdP
    let app = start().await;
    let before = app.jwks.jwks_requests();
    for i in 0..50 {
        let t = app.ec.token().header("kid", format!("forged-{i}")).sign();
        app.refused("forged kid", &t, INVALID).await;
    }
    let during = app.jwks.jwks_requests() - before;
    assert!(during <= 1, "{during} JWKS fetches for 50 forged kids");
}
