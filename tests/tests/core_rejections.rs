//! Every refusal of tollgate-core's verifier, each with its exact error and wire mapping
//! (HTTP status, RFC 6750 code, gRPC code). Tokens are signed with real keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::json;
use tollgate_core::alg::Algorithm;
use tollgate_core::dangerous::DangerousValidation as _;
use tollgate_core::error::{
    AuthError, ClaimsError, ErrorCode, FormatError, GrpcCode, HeaderError, KeyError, SignatureError,
};
use tollgate_core::{KeySet, TokenProfile, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey, b64url};

struct Env {
    rsa: TestKey,
    ec: TestKey,
    ed: TestKey,
    hs: TestKey,
    keys: KeySet,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rsa = TestKey::rsa("rsa-1");
        let ec = TestKey::p256("ec-1");
        let ed = TestKey::ed25519("ed-1");
        let hs = TestKey::hmac_random("hs-1");
        let keys = KeySet::from_keys([
            rsa.public_key(),
            ec.public_key(),
            ed.public_key(),
            hs.public_key(),
        ]);
        Env {
            rsa,
            ec,
            ed,
            hs,
            keys,
        }
    })
}

fn validation() -> Validation {
    Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap()
}

fn check(token: &str) -> Result<(), AuthError> {
    validation().verify::<()>(token, &env().keys).map(|_| ())
}

fn invalid_token(err: AuthError, expected: AuthError) {
    assert_eq!(err, expected);
    let w = err.wire();
    assert_eq!(w.status, 401, "{err:?}");
    assert_eq!(w.error, Some(ErrorCode::InvalidToken), "{err:?}");
    assert_eq!(w.grpc, GrpcCode::Unauthenticated);
    assert!(w.retry_after.is_none());
}

fn refused(token: &str, expected: impl Into<AuthError>) {
    invalid_token(check(token).unwrap_err(), expected.into());
}

#[test]
fn valid_tokens_of_each_family_pass() {
    let e = env();
    for key in [&e.rsa, &e.ec, &e.ed] {
        check(&key.token().sign()).unwrap();
    }
    let v = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .algorithms([Algorithm::HS256, Algorithm::HS512])
        .build()
        .unwrap();
    v.verify::<()>(&e.hs.token().sign(), &e.keys).unwrap();
    v.verify::<()>(&e.hs.token().alg(Algorithm::HS512).sign(), &e.keys)
        .unwrap();
    for alg in [
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        check(&e.rsa.token().alg(alg).sign()).unwrap();
    }
}

#[test]
fn format_refusals() {
    let e = env();
    let good = e.ec.token().sign();
    let v = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .max_token_len(100)
        .build()
        .unwrap();
    invalid_token(
        v.verify::<()>(&good, &e.keys).unwrap_err(),
        FormatError::TooLong {
            len: good.len(),
            max: 100,
        }
        .into(),
    );
    refused("a.b.c.d.e", FormatError::Jwe);
    refused("a.b", FormatError::Segments);
    refused(r#"{"payload":"x","signatures":[]}"#, FormatError::Segments);
    // non-canonical base64url: padding, standard alphabet, whitespace
    let (h, rest) = good.split_once('.').unwrap();
    refused(&format!("{h}=.{rest}"), FormatError::Base64 { segment: 0 });
    refused(&format!("{h} .{rest}"), FormatError::Base64 { segment: 0 });
    let (input, sig) = good.rsplit_once('.').unwrap();
    refused(
        &format!("{input}.+{}", &sig[1..]),
        FormatError::Base64 { segment: 2 },
    );
    refused(
        &format!("{input}./{}", &sig[1..]),
        FormatError::Base64 { segment: 2 },
    );
    // changed padding bits: a 64-byte signature ends in a symbol carrying 4 unused bits
    let last = sig.as_bytes()[sig.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.iter().position(|&c| c == last).unwrap();
    let tweaked = alphabet[idx ^ 1] as char;
    refused(
        &format!("{input}.{}{tweaked}", &sig[..sig.len() - 1]),
        FormatError::Base64 { segment: 2 },
    );
    refused(
        &e.ec.token().raw_header("[1]").sign(),
        FormatError::HeaderJson,
    );
    refused(
        &e.ec.token().raw_claims("[1]").sign(),
        FormatError::ClaimsJson,
    );
    refused(
        &e.ec
            .token()
            .raw_header(r#"{"alg":"ES256","alg":"ES256","kid":"ec-1","typ":"at+jwt"}"#)
            .sign(),
        FormatError::DuplicateMember { in_header: true },
    );
    let claims = format!(
        r#"{{"iss":"{DEFAULT_ISSUER}","aud":"{DEFAULT_AUDIENCE}","scope":"a","scope":"admin"}}"#
    );
    refused(
        &e.ec.token().raw_claims(&claims).sign(),
        FormatError::DuplicateMember { in_header: false },
    );
    refused(&e.ec.token().unsigned(), FormatError::MissingSignature);
    refused(
        &e.ec.token().header("cty", "JWT").sign(),
        FormatError::Nested,
    );
    // 10,000-deep JSON header: refused (serde_json's depth limit), no stack overflow
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let v = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .max_token_len(1 << 20)
        .build()
        .unwrap();
    let t = format!("{}.{}.AAAA", b64url(&deep), b64url("{}"));
    assert!(matches!(
        v.verify::<()>(&t, &e.keys),
        Err(AuthError::Format(_))
    ));
}

#[test]
fn header_refusals() {
    let e = env();
    for none in ["none", "None", "NONE", "nOnE"] {
        let t = e.ec.token().header("alg", none);
        refused(&t.unsigned(), HeaderError::AlgNone);
        refused(&format!("{}AAAA", t.unsigned()), HeaderError::AlgNone);
    }
    refused(
        &e.ec.token().header("alg", "ES512").sign(),
        HeaderError::UnsupportedAlgorithm,
    );
    refused(
        &e.ec.token().header("alg", "es256").sign(),
        HeaderError::UnsupportedAlgorithm,
    );
    refused(
        &e.ec.token().header("alg", 7).sign(),
        FormatError::HeaderJson,
    );
    // HS256 is not in the default allow-list, whatever key is used
    refused(
        &e.hs.token().sign(),
        HeaderError::AlgorithmNotAllowed(Algorithm::HS256),
    );
    refused(
        &e.ec.token().header("crit", json!(["exp"])).sign(),
        HeaderError::UnsupportedCritical,
    );
    refused(
        &e.ec
            .token()
            .header("b64", false)
            .header("crit", json!(["b64"]))
            .sign(),
        HeaderError::UnsupportedCritical,
    );
    refused(
        &e.ec.token().header("typ", "JWT").sign(),
        HeaderError::WrongType,
    );
    refused(
        &e.ec.token().without_header("typ").sign(),
        HeaderError::WrongType,
    );
    refused(
        &e.ec.token().header("typ", "dpop+jwt").sign(),
        HeaderError::WrongType,
    );
    // case-insensitive RFC 9068 typ values are accepted
    check(&e.ec.token().header("typ", "application/AT+JWT").sign()).unwrap();
    // permissive profile: JWT and absent typ accepted, others still refused
    let p = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .profile(TokenProfile::Permissive)
        .build()
        .unwrap();
    p.verify::<()>(&e.ec.token().header("typ", "JWT").sign(), &e.keys)
        .unwrap();
    p.verify::<()>(
        &e.ec.token().without_header("typ").without("jti").sign(),
        &e.keys,
    )
    .unwrap();
    assert_eq!(
        p.verify::<()>(&e.ec.token().header("typ", "logout+jwt").sign(), &e.keys)
            .unwrap_err(),
        HeaderError::WrongType.into()
    );
}

#[test]
fn key_and_signature_refusals() {
    let e = env();
    refused(
        &e.ec.token().header("kid", "nope").sign(),
        KeyError::UnknownKid,
    );
    refused(
        &e.ec.token().header("kid", "../../etc/passwd").sign(),
        KeyError::UnknownKid,
    );
    refused(
        &e.ec.token().header("kid", "' OR 1=1 --").sign(),
        KeyError::UnknownKid,
    );
    refused(
        &e.ec.token().header("kid", "k".repeat(1000)).sign(),
        KeyError::InvalidKid,
    );
    refused(&e.ec.token().header("kid", 5).sign(), KeyError::InvalidKid);
    refused(
        &e.ec.token().header("kid", json!({"a":1})).sign(),
        KeyError::InvalidKid,
    );
    // an ES256 token claiming the RSA key's kid
    refused(
        &e.ec.token().header("kid", "rsa-1").sign(),
        KeyError::NoCompatibleKey,
    );
    // a token signed by a foreign key under our kid
    let foreign = TestKey::p256("ec-1");
    refused(&foreign.token().sign(), SignatureError::Invalid);
    refused(&e.rsa.token().bad_signature(), SignatureError::Invalid);
    refused(&e.ed.token().bad_signature(), SignatureError::Invalid);
    // wrong lengths
    let t = e.ec.token().sign();
    let (input, _) = t.rsplit_once('.').unwrap();
    refused(
        &format!("{input}.{}", b64url([0u8; 63])),
        SignatureError::WrongLength { len: 63 },
    );
    refused(
        &format!("{input}.{}", b64url([0u8; 64])),
        SignatureError::Invalid,
    );
    // ECDSA r = s = 0 ("psychic signatures")
    let t = e.ec.token().sign();
    let (input, _) = t.rsplit_once('.').unwrap();
    refused(
        &format!("{input}.{}", b64url([0u8; 64])),
        SignatureError::Invalid,
    );
    let truncated = &t[..t.len() - 4];
    assert!(check(truncated).is_err());
    // RSA signature of the wrong length for the key
    let t = e.rsa.token().sign();
    let (input, _) = t.rsplit_once('.').unwrap();
    refused(
        &format!("{input}.{}", b64url([1u8; 255])),
        SignatureError::Invalid,
    );
    // key confusion: HS256 signed with the RSA public key (PEM/DER/JWK) under its kid,
    // even with HS256 allowed, because the kid names an RSA key
    let hs_allowed = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .build()
        .unwrap();
    for secret in [
        e.rsa.public_pem().into_bytes(),
        e.rsa.public_der(),
        e.rsa.jwk().to_string().into_bytes(),
    ] {
        let t = e
            .rsa
            .token()
            .alg(Algorithm::HS256)
            .sign_hmac_with(Algorithm::HS256, &secret);
        assert_eq!(
            hs_allowed.verify::<()>(&t, &e.keys).unwrap_err(),
            KeyError::NoCompatibleKey.into()
        );
        refused(&t, HeaderError::AlgorithmNotAllowed(Algorithm::HS256));
    }
    // embedded jwk / jku / x5u / x5c are never used: the attacker's key cannot verify
    let attacker = TestKey::p256("ec-1");
    let t = attacker
        .token()
        .header("jwk", attacker.jwk())
        .header("jku", "http://127.0.0.1:9/jwks")
        .header("x5u", "http://127.0.0.1:9/x5u")
        .header("x5c", json!(["MIIB"]))
        .sign();
    refused(&t, SignatureError::Invalid);
}

#[test]
fn claim_refusals() {
    let e = env();
    let k = &e.ec;
    let expired = check(&k.token().expires_in(-31).sign()).unwrap_err();
    assert!(matches!(
        expired,
        AuthError::Claims(ClaimsError::Expired { .. })
    ));
    assert_eq!(expired.wire().description, "The access token expired");
    // within leeway
    check(&k.token().expires_in(-20).sign()).unwrap();
    assert!(matches!(
        check(&k.token().not_before_in(60).sign()).unwrap_err(),
        AuthError::Claims(ClaimsError::NotYetValid { .. })
    ));
    check(&k.token().not_before_in(20).sign()).unwrap();
    assert!(matches!(
        check(&k.token().issued_in(120).sign()).unwrap_err(),
        AuthError::Claims(ClaimsError::IssuedInFuture { .. })
    ));
    refused(
        &k.token().without("exp").sign(),
        ClaimsError::Missing("exp"),
    );
    refused(
        &k.token().without("iss").sign(),
        ClaimsError::Missing("iss"),
    );
    refused(
        &k.token().without("aud").sign(),
        ClaimsError::Missing("aud"),
    );
    refused(
        &k.token().without("sub").sign(),
        ClaimsError::Missing("sub"),
    );
    refused(
        &k.token().without("client_id").sign(),
        ClaimsError::Missing("client_id"),
    );
    refused(
        &k.token().without("iat").sign(),
        ClaimsError::Missing("iat"),
    );
    refused(
        &k.token().without("jti").sign(),
        ClaimsError::Missing("jti"),
    );
    for bad in [
        json!("4102444800"),
        json!(-1),
        json!(1e300),
        json!(18_446_744_073_709_551_615u64),
        json!(true),
        json!([1]),
    ] {
        refused(
            &k.token().claim("exp", bad.clone()).sign(),
            ClaimsError::InvalidNumericDate("exp"),
        );
        refused(
            &k.token().claim("nbf", bad.clone()).sign(),
            ClaimsError::InvalidNumericDate("nbf"),
        );
        refused(
            &k.token().claim("iat", bad).sign(),
            ClaimsError::InvalidNumericDate("iat"),
        );
    }
    // a float exp in range is a valid NumericDate (RFC 7519 §2)
    check(
        &k.token()
            .claim("exp", tollgate_testkit::now() as f64 + 100.5)
            .sign(),
    )
    .unwrap();
    // 1e309 does not even parse as a JSON number in range
    let c = format!(r#"{{"iss":"{DEFAULT_ISSUER}","aud":"{DEFAULT_AUDIENCE}","exp":1e309}}"#);
    refused(&k.token().raw_claims(&c).sign(), FormatError::ClaimsJson);
    refused(
        &k.token().issuer("https://idp.tollgate.test.evil").sign(),
        ClaimsError::IssuerNotAllowed,
    );
    refused(
        &k.token().issuer("https://idp.tollgate.test/").sign(),
        ClaimsError::IssuerNotAllowed,
    );
    refused(
        &k.token().issuer("HTTPS://idp.tollgate.test").sign(),
        ClaimsError::IssuerNotAllowed,
    );
    refused(
        &k.token().audience("someone-else").sign(),
        ClaimsError::AudienceMismatch,
    );
    refused(
        &k.token().audiences(&[]).sign(),
        ClaimsError::Missing("aud"),
    );
    check(&k.token().audiences(&["x", DEFAULT_AUDIENCE]).sign()).unwrap();
    refused(&k.token().scope("a  b").sign(), ClaimsError::InvalidScope);
    refused(&k.token().scope("a\"b").sign(), ClaimsError::InvalidScope);
    refused(
        &k.token().claim("scp", json!(["ok", "not ok"])).sign(),
        ClaimsError::InvalidScope,
    );
    refused(
        &k.token().claim("scope", json!(["a"])).sign(),
        ClaimsError::InvalidType("scope"),
    );
    // max age
    let v = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .max_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let err = v
        .verify::<()>(&k.token().issued_in(-600).sign(), &e.keys)
        .unwrap_err();
    assert!(matches!(err, AuthError::Claims(ClaimsError::TooOld { .. })));
    // custom claims type mismatch
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Tenant {
        tenant: u32,
    }
    let err = validation()
        .verify::<Tenant>(&k.token().claim("tenant", "acme").sign(), &e.keys)
        .unwrap_err();
    invalid_token(err, ClaimsError::Custom.into());
    let ok = validation()
        .verify::<Tenant>(&k.token().claim("tenant", 7).sign(), &e.keys)
        .unwrap();
    assert_eq!(ok.extra.tenant, 7);
}

#[test]
fn dangerous_opt_outs_are_explicit() {
    let e = env();
    let v = Validation::builder()
        .dangerous_skip_issuer_check()
        .dangerous_skip_audience_check()
        .dangerous_allow_missing_exp()
        .build()
        .unwrap();
    v.verify::<()>(
        &e.ec
            .token()
            .without("iss")
            .without("aud")
            .without("exp")
            .sign(),
        &e.keys,
    )
    .unwrap();
    // a present exp is still enforced
    assert!(
        v.verify::<()>(&e.ec.token().expires_in(-3600).sign(), &e.keys)
            .is_err()
    );
}

#[test]
fn error_text_never_echoes_the_token() {
    let e = env();
    let marker = "SECRETMARKER";
    let tokens = [
        e.ec.token().header("kid", marker).sign(),
        e.ec.token().issuer(marker).sign(),
        e.ec.token().audience(marker).sign(),
        e.ec.token().scope(&format!("{marker}\"")).sign(),
        e.ec.token().header("alg", marker).sign(),
        e.ec.token().claim("exp", marker).sign(),
    ];
    for t in tokens {
        let err = check(&t).unwrap_err();
        let shown = format!("{err} {err:?} {}", err.wire().description);
        assert!(!shown.contains(marker), "{shown}");
        assert!(!shown.contains(&t[..20]), "{shown}");
    }
}
