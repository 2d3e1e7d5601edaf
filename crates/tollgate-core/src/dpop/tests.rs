use super::*;
use tollgate_testkit::{DpopProof, TestKey, now};

const URL: &str = "https://api.example/orders";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

fn verifier() -> DpopVerifier {
    DpopVerifier::builder().build().unwrap()
}

fn req() -> ProofRequest<'static> {
    ProofRequest::new("GET", URL).access_token(TOKEN)
}

fn proof(key: &TestKey) -> DpopProof {
    DpopProof::new(key, "GET", URL).access_token(TOKEN)
}

fn check(p: &str) -> Result<VerifiedProof, DpopError> {
    verifier().verify(p, &req(), now())
}

#[test]
fn accepts_every_default_algorithm() {
    for key in [
        TestKey::p256("a"),
        TestKey::p384("b"),
        TestKey::ed25519("c"),
        TestKey::rsa("d"),
    ] {
        let v = check(&proof(&key).sign()).unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert_eq!(v.jkt(), key.jkt());
        assert!(!v.jti().is_empty());
    }
    let rsa = TestKey::rsa("e");
    check(&proof(&rsa).alg("PS256".parse().unwrap()).sign()).unwrap();
}

#[test]
fn rfc7638_vector() {
    // RFC 7638 §3.1
    let jwk = serde_json::json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        jwk_thumbprint(&jwk).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    assert_eq!(
        jwk_thumbprint(&serde_json::json!({"kty": "oct", "k": "AA"})),
        None
    );
    assert_eq!(
        jwk_thumbprint(&serde_json::json!({"kty": "EC", "crv": "P-256", "x": "A"})),
        None
    );
}

#[test]
fn every_refusal_has_its_reason() {
    let key = TestKey::p256("k");
    let other = TestKey::p256("o");
    let hmac = TestKey::hmac("h", &[7u8; 32]);
    let cases: Vec<(&str, String, DpopError)> = vec![
        ("two segments", "a.b".into(), DpopError::Malformed),
        ("JWE", "a.b.c.d.e".into(), DpopError::Malformed),
        ("empty signature", format!("{}.", proof(&key).sign().rsplit_once('.').unwrap().0), DpopError::Malformed),
        ("bad base64", "a*.b.c".into(), DpopError::Malformed),
        ("too long", "a".repeat(DEFAULT_MAX_PROOF_LEN + 1), DpopError::TooLong { len: DEFAULT_MAX_PROOF_LEN + 1, max: DEFAULT_MAX_PROOF_LEN }),
        ("typ JWT", proof(&key).header("typ", "JWT").sign(), DpopError::WrongType),
        ("typ absent", proof(&key).without_header("typ").sign(), DpopError::WrongType),
        ("typ at+jwt", proof(&key).header("typ", "at+jwt").sign(), DpopError::WrongType),
        ("alg none", proof(&key).header("alg", "none").sign(), DpopError::AlgorithmNotAllowed),
        ("alg HS256", DpopProof::new(&hmac, "GET", URL).access_token(TOKEN).sign(), DpopError::AlgorithmNotAllowed),
        ("alg ES512", proof(&key).header("alg", "ES512").sign(), DpopError::AlgorithmNotAllowed),
        ("alg RS512 (not in the default list)", DpopProof::new(&TestKey::rsa("r"), "GET", URL).access_token(TOKEN).alg("RS512".parse().unwrap()).sign(), DpopError::AlgorithmNotAllowed),
        ("alg as number", proof(&key).header("alg", 5).sign(), DpopError::AlgorithmNotAllowed),
        ("crit", proof(&key).header("crit", vec!["exp"]).sign(), DpopError::UnsupportedCritical),
        ("no jwk", proof(&key).without_header("jwk").sign(), DpopError::MissingJwk),
        ("jwk a string", proof(&key).header("jwk", "x").sign(), DpopError::MissingJwk),
        ("private jwk d", proof(&key).jwk_member("d", "AAAA").sign(), DpopError::PrivateKey),
        ("private jwk k", proof(&key).jwk_member("k", "AAAA").sign(), DpopError::PrivateKey),
        ("oct jwk", proof(&key).header("jwk", serde_json::json!({"kty": "oct"})).sign(), DpopError::InvalidJwk),
        ("jwk of another family", proof(&key).header("jwk", TestKey::ed25519("e").dpop_jwk()).sign(), DpopError::InvalidJwk),
        ("jwk point off the curve", proof(&key).jwk_member("y", key.dpop_jwk()["x"].clone()).sign(), DpopError::InvalidJwk),
        ("signed by another key", proof(&key).signed_by(&other).sign(), DpopError::BadSignature),
        ("no jti", proof(&key).without("jti").sign(), DpopError::MissingClaim("jti")),
        ("empty jti", proof(&key).jti("").sign(), DpopError::InvalidClaim("jti")),
        ("jti a number", proof(&key).claim("jti", 7).sign(), DpopError::InvalidClaim("jti")),
        ("no htm", proof(&key).without("htm").sign(), DpopError::MissingClaim("htm")),
        ("htm POST", proof(&key).claim("htm", "POST").sign(), DpopError::MethodMismatch),
        ("htm lowercase", proof(&key).claim("htm", "get").sign(), DpopError::MethodMismatch),
        ("no htu", proof(&key).without("htu").sign(), DpopError::MissingClaim("htu")),
        ("htu another path", proof(&key).claim("htu", "https://api.example/admin").sign(), DpopError::UrlMismatch),
        ("htu another host", proof(&key).claim("htu", "https://evil.example/orders").sign(), DpopError::UrlMismatch),
        ("htu http", proof(&key).claim("htu", "http://api.example/orders").sign(), DpopError::UrlMismatch),
        ("htu relative", proof(&key).claim("htu", "/orders").sign(), DpopError::InvalidClaim("htu")),
        ("no iat", proof(&key).without("iat").sign(), DpopError::MissingClaim("iat")),
        ("iat a string", proof(&key).claim("iat", "1").sign(), DpopError::InvalidClaim("iat")),
        ("iat negative", proof(&key).claim("iat", -1).sign(), DpopError::InvalidClaim("iat")),
        ("no ath", proof(&key).without("ath").sign(), DpopError::MissingClaim("ath")),
        ("ath of another token", proof(&key).access_token("other.token.x").sign(), DpopError::AccessTokenHashMismatch),
        ("duplicate header member", proof(&key).raw_header(&format!(r#"{{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":{}}}"#, key.dpop_jwk())).sign(), DpopError::DuplicateMember { in_header: true }),
        ("duplicate jwk member", proof(&key).raw_header(&format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","kty":"EC","crv":"P-256","x":{},"y":{}}}}}"#, key.dpop_jwk()["x"], key.dpop_jwk()["y"])).sign(), DpopError::DuplicateMember { in_header: true }),
        ("duplicate claim", proof(&key).raw_claims(&format!(r#"{{"jti":"a","jti":"b","htm":"GET","htu":"{URL}","iat":{}}}"#, now())).sign(), DpopError::DuplicateMember { in_header: false }),
        ("claims not an object", proof(&key).raw_claims("[1]").sign(), DpopError::Malformed),
    ];
    for (name, p, expected) in cases {
        let got = check(&p);
        assert_eq!(got.as_ref().err(), Some(&expected), "{name}: {got:?}");
        let e = crate::AuthError::from(expected);
        assert_eq!(e.wire().status, 401, "{name}");
        // the refusal text never shows the proof
        if p.len() > 30 {
            assert!(!format!("{e} {e:?}").contains(&p[..30]), "{name}");
        }
    }
    // iat window: 60 s back, 5 s ahead by default
    let now = now();
    let v = verifier();
    let at = |secs: i64| proof(&key).claim("iat", now + secs).sign();
    assert!(v.verify(&at(-60), &req(), now).is_ok());
    assert_eq!(
        v.verify(&at(-61), &req(), now).err(),
        Some(DpopError::IssuedTooLongAgo { iat: now - 61, now })
    );
    assert!(v.verify(&at(5), &req(), now).is_ok());
    assert_eq!(
        v.verify(&at(6), &req(), now).err(),
        Some(DpopError::IssuedInFuture { iat: now + 6, now })
    );
    // configurable window
    let v = DpopVerifier::builder()
        .max_age(Duration::from_secs(10))
        .max_future(Duration::from_secs(0))
        .build()
        .unwrap();
    assert!(v.verify(&at(-11), &req(), now).is_err());
    assert!(v.verify(&at(1), &req(), now).is_err());
    assert!(v.verify(&at(0), &req(), now).is_ok());
}

#[test]
fn htu_normalisation_and_no_token() {
    let key = TestKey::ed25519("k");
    let v = verifier();
    let p = DpopProof::new(&key, "POST", "HTTPS://API.EXAMPLE:443/orders").sign();
    // no access token presented: ath not required
    for url in [
        "https://api.example/orders",
        "https://api.example:443/orders?x=1",
        "https://api.example/orders#frag",
    ] {
        v.verify(&p, &ProofRequest::new("POST", url), now())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    for url in [
        "https://api.example:8443/orders",
        "https://api.example/orders/",
        "https://api.example/Orders",
    ] {
        assert_eq!(
            v.verify(&p, &ProofRequest::new("POST", url), now()).err(),
            Some(DpopError::UrlMismatch),
            "{url}"
        );
    }
    assert_eq!(normalize_htu("https://u@api.example/"), None);
    assert_eq!(normalize_htu("https://api.example/%zz"), None);
    assert_eq!(
        normalize_htu("https://api.example/a%2fb%41").as_deref(),
        Some("https://api.example/a%2FbA")
    );
    assert_eq!(
        normalize_htu("http://[::1]:80/x").as_deref(),
        Some("http://[::1]/x")
    );
    let base = PublicUrl::parse("https://api.example:443").unwrap();
    assert_eq!(base.htu("/orders"), "https://api.example/orders");
    assert_eq!(base.to_string(), "https://api.example");
}

#[test]
fn algorithm_allow_list() {
    assert_eq!(
        DpopVerifier::builder().algorithms([]).build().err(),
        Some(BuildError::DpopAlgorithms)
    );
    assert_eq!(
        DpopVerifier::builder()
            .algorithms([Algorithm::ES256, Algorithm::HS256])
            .build()
            .err(),
        Some(BuildError::DpopAlgorithms)
    );
    let v = DpopVerifier::builder()
        .algorithms([Algorithm::EdDSA])
        .build()
        .unwrap();
    let p256 = TestKey::p256("k");
    assert_eq!(
        v.verify(&proof(&p256).sign(), &req(), now()).err(),
        Some(DpopError::AlgorithmNotAllowed)
    );
    assert_eq!(
        default_algorithms()
            .iter()
            .map(Algorithm::as_str)
            .collect::<Vec<_>>(),
        ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
    );
}

#[test]
fn binding_rules() {
    let key = TestKey::p256("k");
    let v = check(&proof(&key).sign()).unwrap();
    let bound = serde_json::json!({ "jkt": key.jkt() });
    let other = serde_json::json!({ "jkt": TestKey::p256("o").jkt() });
    assert_eq!(check_binding(Some(&bound), &v), Ok(()));
    assert_eq!(check_binding(Some(&other), &v), Err(DpopError::KeyMismatch));
    assert_eq!(check_binding(None, &v), Err(DpopError::UnboundToken));
    assert_eq!(
        check_binding(Some(&serde_json::json!({"x5t#S256": "abc"})), &v),
        Err(DpopError::UnboundToken)
    );
    assert_eq!(
        check_binding(Some(&serde_json::json!({"jkt": 5})), &v),
        Err(DpopError::KeyMismatch)
    );
    assert_eq!(check_bearer(None), Ok(()));
    assert_eq!(
        check_bearer(Some(&serde_json::json!({"x5t#S256": "a"}))),
        Ok(())
    );
    assert_eq!(
        check_bearer(Some(&bound)),
        Err(DpopError::BoundTokenAsBearer)
    );
}

#[test]
fn replay_through_the_verifier() {
    let key = TestKey::p256("k");
    let v = verifier();
    let p = proof(&key).sign();
    let now = now();
    let proof = v.verify(&p, &req(), now).unwrap();
    assert_eq!(v.remember(&proof, now).now_or_never(), Some(Ok(())));
    // the same proof again: still valid on its own, refused by the store
    let again = v.verify(&p, &req(), now + 1).unwrap();
    assert_eq!(
        v.remember(&again, now + 1).now_or_never(),
        Some(Err(DpopError::Replayed))
    );
    // clones share the store
    assert_eq!(
        v.clone().remember(&again, now + 2).now_or_never(),
        Some(Err(DpopError::Replayed))
    );
    // a fresh jti from the same key is fine
    let fresh = v
        .verify(&super::tests::proof(&key).sign(), &req(), now)
        .unwrap();
    assert_eq!(v.remember(&fresh, now).now_or_never(), Some(Ok(())));
}

#[test]
fn nonces_required() {
    let nonces = NonceIssuer::new(&[9u8; 32]).unwrap();
    let v = DpopVerifier::builder()
        .nonces(nonces.clone())
        .build()
        .unwrap();
    let key = TestKey::p256("k");
    let now = now();
    assert_eq!(
        v.verify(&proof(&key).sign(), &req(), now).err(),
        Some(DpopError::NonceRequired)
    );
    assert_eq!(
        v.verify(&proof(&key).nonce("made-up").sign(), &req(), now)
            .err(),
        Some(DpopError::NonceInvalid)
    );
    assert_eq!(
        v.verify(&proof(&key).claim("nonce", 5).sign(), &req(), now)
            .err(),
        Some(DpopError::NonceInvalid)
    );
    let stale = nonces.mint(now - 120);
    assert_eq!(
        v.verify(&proof(&key).nonce(&stale).sign(), &req(), now)
            .err(),
        Some(DpopError::NonceInvalid)
    );
    let fresh = v.nonces().unwrap().mint(now);
    assert!(
        v.verify(&proof(&key).nonce(&fresh).sign(), &req(), now)
            .is_ok()
    );
    // a bad signature is reported as such, not as a nonce problem
    assert_eq!(
        v.verify(
            &proof(&key).signed_by(&TestKey::p256("x")).sign(),
            &req(),
            now
        )
        .err(),
        Some(DpopError::BadSignature)
    );
}

#[test]
fn authorization_schemes() {
    use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
    let one = |v: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static(v));
        extract_authorization(&h).map(|p| format!("{p:?}"))
    };
    assert_eq!(one("DPoP a.b.c").as_deref(), Ok(r#"Dpop("a.b.c")"#));
    assert_eq!(one("DPOP   a.b.c").as_deref(), Ok(r#"Dpop("a.b.c")"#));
    assert_eq!(one("Bearer a.b.c").as_deref(), Ok(r#"Bearer("a.b.c")"#));
    assert_eq!(one("DPoP"), Err(RequestError::Malformed));
    assert_eq!(one("DPoP a b"), Err(RequestError::Malformed));
    assert_eq!(one("DPoPx a"), Err(RequestError::Missing));
    assert_eq!(one("Basic x"), Err(RequestError::Missing));
    let mut h = HeaderMap::new();
    assert_eq!(extract_authorization(&h), Err(RequestError::Missing));
    assert_eq!(extract_proof(&h), Err(DpopError::MissingProof));
    h.append("dpop", HeaderValue::from_static("p"));
    assert_eq!(extract_proof(&h), Ok("p"));
    h.append("DPoP", HeaderValue::from_static("q"));
    assert_eq!(extract_proof(&h), Err(DpopError::MultipleProofs));
    h.append(AUTHORIZATION, HeaderValue::from_static("DPoP a"));
    h.append(AUTHORIZATION, HeaderValue::from_static("DPoP a"));
    assert_eq!(
        extract_authorization(&h),
        Err(RequestError::MultipleAuthorization)
    );
}

#[test]
fn hostile_signatures() {
    let key = TestKey::p256("k");
    let good = proof(&key).sign();
    let (input, _) = good.rsplit_once('.').unwrap();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    // ECDSA r = s = 0 ("psychic signatures"), wrong lengths, an empty-but-present one
    for sig in [vec![0u8; 64], vec![0u8; 63], vec![1u8; 65], vec![0u8; 1]] {
        assert_eq!(
            check(&format!("{input}.{}", b64(&sig))).err(),
            Some(DpopError::BadSignature),
            "{}",
            sig.len()
        );
    }
    // RSA: a signature one byte short of the modulus
    let rsa = TestKey::rsa("r");
    let good = proof(&rsa).sign();
    let (input, sig) = good.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig.pop();
    assert_eq!(
        check(&format!("{input}.{}", b64(&sig))).err(),
        Some(DpopError::BadSignature)
    );
    // a jwk header pointing elsewhere (jku, x5u, kid) is never used: the key is the jwk
    let p = proof(&key)
        .header("jku", "https://evil.example/jwks")
        .header("kid", "../../etc/passwd")
        .sign();
    assert_eq!(check(&p).map(|v| v.jkt().to_owned()), Ok(key.jkt()));
}
