//! `cargo bench -p tollgate-core --bench verify`: full verification (format, header,
//! claims, key lookup, signature) per algorithm with 1, 10 and 100 keys in the set,
//! next to the raw signature verify of the same backend: through jsonwebtoken (key from
//! components on every call) and with an aws-lc `ParsedPublicKey` (the limit).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_core::alg::Algorithm;
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn bench(c: &mut Criterion) {
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap();
    let signers = [
        ("RS256", TestKey::rsa("target")),
        ("ES256", TestKey::p256("target")),
        ("EdDSA", TestKey::ed25519("target")),
        ("HS256", TestKey::hmac_random("target")),
    ];
    let filler: Vec<TestKey> = (0..99)
        .map(|i| TestKey::ed25519(&format!("other-{i}")))
        .collect();
    let mut group = c.benchmark_group("verify");
    for (name, key) in &signers {
        let token = key.token().scope("orders:read").sign();
        for n in [1usize, 10, 100] {
            let mut keys = vec![key.public_key()];
            keys.extend(filler.iter().take(n - 1).map(TestKey::public_key));
            let set = KeySet::from_keys(keys);
            group.bench_function(format!("{name}/{n}_keys"), |b| {
                b.iter(|| validation.verify::<()>(black_box(&token), &set).unwrap())
            });
        }
        // the raw primitive: what any verifier must pay
        let (input, sig) = token.rsplit_once('.').unwrap();
        let dk = match key.default_alg() {
            Algorithm::HS256 => {
                jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(key.jwk()).unwrap())
                    .unwrap()
            }
            _ => jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(key.jwk()).unwrap())
                .unwrap(),
        };
        let alg: jsonwebtoken::Algorithm = name.parse().unwrap();
        group.bench_function(format!("{name}/raw_signature"), |b| {
            b.iter(|| {
                assert!(
                    jsonwebtoken::crypto::verify(black_box(sig), input.as_bytes(), &dk, alg)
                        .unwrap()
                )
            })
        });
        // the limit: the same primitive with a public key parsed once (aws-lc
        // ParsedPublicKey), as tollgate now holds them
        if let Some(parsed) = parsed_key(key) {
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            group.bench_function(format!("{name}/raw_parsed_key"), |b| {
                b.iter(|| {
                    parsed
                        .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                        .unwrap();
                })
            });
        }
    }
    group.finish();
}

/// The aws-lc parsed public key of an asymmetric test key (None for HMAC).
fn parsed_key(key: &TestKey) -> Option<ParsedPublicKey> {
    let jwk = key.jwk();
    let member = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
    Some(match key.default_alg() {
        Algorithm::RS256 => RsaPublicKeyComponents {
            n: member("n"),
            e: member("e"),
        }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .unwrap(),
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(member("x"));
            point.extend(member("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).unwrap()
        }
        Algorithm::EdDSA => ParsedPublicKey::new(&signature::ED25519, member("x")).unwrap(),
        _ => return None,
    })
}

criterion_group!(benches, bench);
criterion_main!(benches);
