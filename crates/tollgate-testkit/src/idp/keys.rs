//! The signing key ring: the signing key, the next key (published ahead), and retired
//! keys kept published until their grace period ends.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_core::alg::Algorithm;

use crate::{TestKey, b64url};

#[derive(Debug)]
pub(crate) struct KeyRing {
    alg: Algorithm,
    grace: Duration,
    generation: u64,
    /// Signs every token.
    current: TestKey,
    /// Published now, signs after the next rotation: resource servers that refresh on
    /// their schedule know it before the first token it signs arrives.
    next: TestKey,
    /// Retired signing keys and when they leave the JWKS.
    retired: Vec<(TestKey, Instant)>,
}

fn random_tag() -> String {
    let mut b = [0u8; 4];
    // a failure only makes kids less unique across IdP instances
    let _ = aws_lc_rs::rand::fill(&mut b);
    b64url(b)
}

pub(crate) fn generate(alg: Algorithm, generation: u64) -> TestKey {
    let kid = format!("dev-{generation}-{}", random_tag());
    match alg {
        Algorithm::ES256 => TestKey::p256(&kid),
        Algorithm::ES384 => TestKey::p384(&kid),
        Algorithm::EdDSA => TestKey::ed25519(&kid),
        // RS256 / PS256 (checked by IdpConfig::check)
        _ => TestKey::rsa(&kid),
    }
}

impl KeyRing {
    pub(crate) fn new(alg: Algorithm, grace: Duration) -> Self {
        KeyRing {
            alg,
            grace,
            generation: 2,
            current: generate(alg, 1),
            next: generate(alg, 2),
            retired: Vec::new(),
        }
    }

    pub(crate) fn alg(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn signing_key(&self) -> &TestKey {
        &self.current
    }

    /// The key after `next`, generated outside the lock by the caller.
    pub(crate) fn next_generation(&self) -> u64 {
        self.generation + 1
    }

    /// Retires the signing key, promotes the next key and publishes `fresh` as the new
    /// next key. Returns the new signing key's kid.
    pub(crate) fn rotate(&mut self, fresh: TestKey, now: Instant) -> String {
        self.generation += 1;
        let old = std::mem::replace(&mut self.current, std::mem::replace(&mut self.next, fresh));
        self.retired.push((old, now + self.grace));
        self.current.kid().to_owned()
    }

    fn prune(&mut self, now: Instant) {
        self.retired.retain(|(_, until)| *until > now);
    }

    /// The published keys: signing, next, retired (newest first).
    pub(crate) fn published(&mut self, now: Instant) -> Vec<TestKey> {
        self.prune(now);
        let mut keys = vec![self.current.clone(), self.next.clone()];
        keys.extend(self.retired.iter().rev().map(|(k, _)| k.clone()));
        keys
    }

    /// The JWKS (each key with `alg` and `use`) and its strong `ETag`.
    pub(crate) fn jwks(&mut self, now: Instant) -> (Value, String) {
        let keys: Vec<Value> = self
            .published(now)
            .iter()
            .map(|k| {
                let mut jwk = k.jwk();
                if let Value::Object(m) = &mut jwk {
                    m.insert("alg".into(), self.alg.as_str().into());
                    m.insert("use".into(), "sig".into());
                }
                jwk
            })
            .collect();
        let doc = json!({ "keys": keys });
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, doc.to_string().as_bytes());
        let etag = format!("\"{}\"", b64url(&digest.as_ref()[..12]));
        (doc, etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_promotes_next_and_retires_current() {
        let mut ring = KeyRing::new(Algorithm::ES256, Duration::from_secs(10));
        let t0 = Instant::now();
        let (first, next) = (ring.current.kid().to_owned(), ring.next.kid().to_owned());
        let (_, etag0) = ring.jwks(t0);
        let fresh = generate(ring.alg(), ring.next_generation());
        let kid = ring.rotate(fresh, t0);
        assert_eq!(kid, next);
        let kids: Vec<String> = ring
            .published(t0)
            .iter()
            .map(|k| k.kid().to_owned())
            .collect();
        assert_eq!(kids.len(), 3);
        assert_eq!(kids[0], next);
        assert!(kids.contains(&first));
        let (_, etag1) = ring.jwks(t0);
        assert_ne!(etag0, etag1);
        // after the grace period the retired key is gone
        let later = t0 + Duration::from_secs(11);
        let kids: Vec<String> = ring
            .published(later)
            .iter()
            .map(|k| k.kid().to_owned())
            .collect();
        assert!(!kids.contains(&first));
        assert_eq!(kids.len(), 2);
    }
}
