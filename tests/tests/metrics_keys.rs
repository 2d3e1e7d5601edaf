//! Key metrics follow a rotation, a 304, an outage and a forged-kid burst: each JWKS
//! fetch counter (`ok`, `not_modified`, `error`), the unknown-kid refresh and suppressed
//! counters and the keys gauge move by exactly what happened (issue 17).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tollgate_core::authenticate::Authenticate;
use tollgate_core::remote::{IssuerConfig, Issuers, RefreshConfig};
use tollgate_core::{Validation, metrics};
use tollgate_testkit::jwks_server::{Fault, serve_jwks};
use tollgate_testkit::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TestKey};

fn refresh() -> RefreshConfig {
    let mut c = RefreshConfig::default();
    c.min_interval = Duration::from_secs(60);
    c.max_interval = Duration::from_secs(60);
    c.default_interval = Duration::from_secs(60);
    c.cooldown = Duration::from_millis(150);
    c.unknown_kid_wait = Duration::from_secs(2);
    c.fetch_timeout = Duration::from_millis(300);
    // no background retry inside the test: only on-demand fetches happen
    c.retry_min = Duration::from_secs(60);
    c.retry_max = Duration::from_secs(60);
    c.startup_timeout = Duration::from_secs(3);
    c
}

/// Running totals: the debugging recorder's snapshot resets what it reports, so
/// counters are summed here and gauges keep their last non-zero value.
struct Totals {
    snap: Snapshotter,
    seen: Mutex<HashMap<String, f64>>,
}

impl Totals {
    /// The value of one series (`labels` exact), 0 when never seen.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut seen = self.seen.lock().unwrap();
        for (key, _, _, v) in self.snap.snapshot().into_vec() {
            let key = key.key();
            let mut l: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            l.sort_unstable();
            let id = format!("{}{{{}}}", key.name(), l.join(","));
            #[allow(clippy::cast_precision_loss)]
            match v {
                DebugValue::Counter(c) => *seen.entry(id).or_default() += c as f64,
                DebugValue::Gauge(g) if g.into_inner() != 0.0 => {
                    seen.insert(id, g.into_inner());
                }
                DebugValue::Gauge(_) | DebugValue::Histogram(_) => {}
            }
        }
        let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort_unstable();
        seen.get(&format!("{name}{{{}}}", l.join(",")))
            .copied()
            .unwrap_or(0.0)
    }
}

async fn status(issuers: &Issuers, token: &str) -> u16 {
    match Authenticate::<()>::authenticate(issuers, token).await {
        Ok(_) => 200,
        Err(e) => e.wire().status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_metrics_follow_rotation_and_outage() {
    let recorder = DebuggingRecorder::new();
    let snap = Totals {
        snap: recorder.snapshotter(),
        seen: Mutex::default(),
    };
    recorder.install().unwrap();

    let k1 = TestKey::p256("m-1");
    let k2 = TestKey::p256("m-2");
    let (url, server) = serve_jwks(TestKey::jwks([&k1])).await;
    let validation = Validation::builder()
        .issuer(DEFAULT_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .build()
        .unwrap();
    let issuers = Issuers::builder()
        .refresh(refresh())
        .issuer(IssuerConfig::new(validation).jwks_uri(&url))
        .build()
        .await
        .unwrap();
    let iss = ("issuer", DEFAULT_ISSUER);
    let fetches = |r: &str| snap.value(metrics::JWKS_FETCHES_TOTAL, &[iss, ("result", r)]);
    let refreshes = || snap.value(metrics::UNKNOWN_KID_REFRESHES_TOTAL, &[iss]);
    let suppressed = || snap.value(metrics::UNKNOWN_KID_SUPPRESSED_TOTAL, &[iss]);
    let keys = || snap.value(metrics::JWKS_KEYS, &[iss]);
    assert_eq!((fetches("ok"), keys()), (1.0, 1.0));
    assert!(snap.value(metrics::JWKS_LAST_REFRESH, &[iss]) > 1.7e9);

    // rotation: k2 published; a token signed by it triggers one refresh
    server.set_jwks(TestKey::jwks([&k1, &k2]));
    assert_eq!(status(&issuers, &k2.token().sign()).await, 200);
    assert_eq!((fetches("ok"), refreshes(), keys()), (2.0, 1.0, 2.0));

    // the same set again after the cooldown: the conditional GET answers 304
    tokio::time::sleep(Duration::from_millis(200)).await;
    let forged = TestKey::p256("m-forged");
    assert_eq!(status(&issuers, &forged.token().sign()).await, 401);
    assert_eq!((fetches("not_modified"), refreshes()), (1.0, 2.0));

    // outage: the refresh fails, the last good set stays
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.set_fault(Some(Fault::Status(500)));
    assert_eq!(status(&issuers, &forged.token().sign()).await, 401);
    assert_eq!((fetches("error"), refreshes(), keys()), (1.0, 3.0, 2.0));
    assert_eq!(status(&issuers, &k1.token().sign()).await, 200);

    // within the cooldown: refused without a fetch, counted as suppressed
    assert_eq!(suppressed(), 0.0);
    assert_eq!(status(&issuers, &forged.token().sign()).await, 401);
    assert_eq!(status(&issuers, &forged.token().sign()).await, 401);
    assert_eq!((suppressed(), refreshes()), (2.0, 3.0));
    assert_eq!(
        (fetches("ok"), fetches("not_modified"), fetches("error")),
        (2.0, 1.0, 1.0)
    );
}
