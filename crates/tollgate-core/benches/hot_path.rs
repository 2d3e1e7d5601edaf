//! `cargo bench -p tollgate-core --bench hot_path`: the warm path (cache hit), cold
//! verification per algorithm next to the raw signature verify of the same backend
//! (our overhead above the crypto), scope policy checks, key lookup with 1/10/100 keys
//! and issuer lookup with 1/10/100 issuers.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_core::alg::Algorithm;
use tollgate_core::authenticate::StaticKeys;
use tollgate_core::cache::CacheConfig;
use tollgate_core::scope::{Scope, ScopePolicy, ScopeSet};
use tollgate_core::{KeySet, Validation};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn validation() -> Validation {
    Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .algorithms(Algorithm::ALL)
        .build()
        .unwrap()
}

fn cache_and_cold(c: &mut Criterion) {
    let mut g = c.benchmark_group("authenticate");
    let signers = [
        (Algorithm::RS256, TestKey::rsa("k")),
        (Algorithm::PS256, TestKey::rsa("k")),
        (Algorithm::ES256, TestKey::p256("k")),
        (Algorithm::EdDSA, TestKey::ed25519("k")),
        (Algorithm::HS256, TestKey::hmac_random("k")),
    ];
    for (alg, key) in &signers {
        let token = key.token().alg(*alg).scope("orders:read").sign();
        // taken after minting: key generation above can take longer than the leeway
        let now = tollgate_testkit::now();
        let keys = KeySet::from_keys([key.public_key()]);
        let cached = StaticKeys::new(validation(), keys.clone());
        // verified twice: admitted on the second sighting
        cached.verify_cached::<()>(&token, now).unwrap();
        cached.verify_cached::<()>(&token, now).unwrap();
        g.bench_function(format!("{alg}/cache_hit"), |b| {
            b.iter(|| cached.verify_cached::<()>(black_box(&token), now).unwrap())
        });
        let cold = StaticKeys::new(validation(), keys).without_cache();
        g.bench_function(format!("{alg}/cold_verify"), |b| {
            b.iter(|| cold.verify_cached::<()>(black_box(&token), now).unwrap())
        });
        let (input, sig) = token.rsplit_once('.').unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(key.jwk()).unwrap())
            .unwrap();
        let jalg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
        g.bench_function(format!("{alg}/raw_signature"), |b| {
            b.iter(|| {
                assert!(
                    jsonwebtoken::crypto::verify(black_box(sig), input.as_bytes(), &dk, jalg)
                        .unwrap()
                )
            })
        });
    }
    g.finish();
}

/// The cold path with the cache on: 1,000 tokens never seen before, through a fresh
/// authenticator per iteration (time per iteration / 1,000 = cost per request), with the
/// doorkeeper (default), with insertion on first sight, and without a cache.
fn cold_distinct(c: &mut Criterion) {
    let mut g = c.benchmark_group("cold_1000_distinct");
    g.sample_size(10);
    for (alg, key) in [
        (Algorithm::RS256, TestKey::rsa("k")),
        (Algorithm::ES256, TestKey::p256("k")),
    ] {
        let keys = KeySet::from_keys([key.public_key()]);
        let tokens: Vec<String> = (0..1_000)
            .map(|i| key.token().alg(alg).claim("jti", format!("d{i}")).sign())
            .collect();
        let now = tollgate_testkit::now();
        let modes: [(&str, Option<CacheConfig>); 3] = [
            ("doorkeeper", Some(CacheConfig::default())),
            (
                "admit_first",
                Some(CacheConfig::default().admit_on_first_sight()),
            ),
            ("no_cache", None),
        ];
        for (name, cfg) in modes {
            g.bench_function(format!("{alg}/{name}"), |b| {
                b.iter_batched(
                    || {
                        let a = StaticKeys::new(validation(), keys.clone());
                        match cfg {
                            Some(cfg) => a.with_cache(cfg),
                            None => a.without_cache(),
                        }
                    },
                    |auth| {
                        for t in &tokens {
                            auth.verify_cached::<()>(black_box(t), now).unwrap();
                        }
                        auth
                    },
                    criterion::BatchSize::PerIteration,
                )
            });
        }
    }
    g.finish();
}

fn scopes(c: &mut Criterion) {
    let granted: ScopeSet = "openid profile orders:read orders:write inventory:read"
        .parse()
        .unwrap();
    let all = ScopePolicy::all_of([
        Scope::from_static("orders:read"),
        Scope::from_static("orders:write"),
    ]);
    let any = ScopePolicy::any_of([
        Scope::from_static("admin"),
        Scope::from_static("inventory:read"),
    ]);
    c.bench_function("scope/all_of_2_of_5", |b| {
        b.iter(|| all.is_satisfied_by(black_box(&granted)))
    });
    c.bench_function("scope/any_of_2_of_5", |b| {
        b.iter(|| any.is_satisfied_by(black_box(&granted)))
    });
    c.bench_function("scope/parse_5", |b| {
        b.iter(|| {
            black_box("openid profile orders:read orders:write inventory:read")
                .parse::<ScopeSet>()
                .unwrap()
        })
    });
}

fn key_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("key_lookup");
    for n in [1usize, 10, 100] {
        let keys = KeySet::from_keys(
            (0..n).map(|i| TestKey::hmac_random(&format!("kid-{i}")).public_key()),
        );
        let kid = format!("kid-{}", n - 1);
        g.bench_function(format!("{n}_keys"), |b| {
            b.iter(|| {
                keys.candidates(Some(black_box(&kid)), Algorithm::HS256)
                    .unwrap()
                    .count()
            })
        });
    }
    g.finish();
}

fn issuer_lookup(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("issuer_lookup");
    for n in [1usize, 10, 100] {
        // lazy registries: no key fetch happens; this measures the `iss` routing only
        let issuers = rt.block_on(async {
            let mut b = tollgate_core::remote::Issuers::builder().without_cache();
            for i in 0..n {
                let v = Validation::builder()
                    .issuer(format!("https://idp-{i}.example"))
                    .audience("api")
                    .build()
                    .unwrap();
                b = b.issuer(
                    tollgate_core::remote::IssuerConfig::new(v)
                        .jwks_uri(format!("https://idp-{i}.example/jwks")),
                );
            }
            b.build_lazy().unwrap()
        });
        let token = TestKey::hmac_random("k")
            .token()
            .issuer(&format!("https://idp-{}.example", n - 1))
            .sign();
        g.bench_function(format!("{n}_issuers"), |b| {
            b.iter(|| {
                let _g = rt.enter();
                let mut f = std::pin::pin!(
                    tollgate_core::authenticate::Authenticate::<()>::authenticate(
                        &issuers,
                        black_box(&token)
                    )
                );
                let out = std::future::Future::poll(
                    f.as_mut(),
                    &mut std::task::Context::from_waker(std::task::Waker::noop()),
                );
                black_box(matches!(out, std::task::Poll::Ready(Err(_))))
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    cache_and_cold,
    cold_distinct,
    scopes,
    key_lookup,
    issuer_lookup
);
criterion_main!(benches);
