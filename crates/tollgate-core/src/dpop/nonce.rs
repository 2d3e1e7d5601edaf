//! Stateless server nonces (RFC 9449 §9): an HMAC over a time step.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::BuildError;

const CONTEXT: &[u8] = b"tollgate dpop nonce v1";
const TAG_LEN: usize = 16;

/// Mints and checks DPoP server nonces without state: a nonce is the time step it was
/// minted in and an HMAC-SHA256 tag over that step (truncated to 128 bits), so replicas
/// sharing the secret accept each other's nonces. A nonce is accepted during the step
/// it was minted in and the `accepted_steps - 1` steps after it.
///
/// ```
/// use std::time::Duration;
/// use tollgate_core::dpop::NonceIssuer;
///
/// let nonces = NonceIssuer::new(&[7u8; 32])?.step(Duration::from_secs(30));
/// let n = nonces.mint(1_000);
/// // accepted: still within the window
/// assert!(nonces.check(&n, 1_040));
/// // rejected: too old, or minted with another secret
/// assert!(!nonces.check(&n, 1_000 + 120));
/// assert!(!NonceIssuer::new(&[8u8; 32])?.check(&n, 1_000));
/// # Ok::<(), tollgate_core::BuildError>(())
/// ```
#[derive(Clone)]
pub struct NonceIssuer {
    key: hmac::Key,
    step: u64,
    accepted_steps: u64,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("step", &self.step)
            .field("accepted_steps", &self.accepted_steps)
            .finish_non_exhaustive()
    }
}

impl NonceIssuer {
    /// Default length of a time step.
    pub const DEFAULT_STEP: Duration = Duration::from_secs(30);
    /// Default number of steps a nonce stays valid (the current one and the previous).
    pub const DEFAULT_ACCEPTED_STEPS: u32 = 2;

    /// Nonces under this shared secret (at least 32 bytes).
    ///
    /// # Errors
    ///
    /// [`BuildError::DpopNonceSecret`] for a shorter secret.
    pub fn new(secret: &[u8]) -> Result<Self, BuildError> {
        if secret.len() < 32 {
            return Err(BuildError::DpopNonceSecret);
        }
        Ok(NonceIssuer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            step: Self::DEFAULT_STEP.as_secs(),
            accepted_steps: u64::from(Self::DEFAULT_ACCEPTED_STEPS),
        })
    }

    /// Nonces under a fresh random secret (one process; replicas need [`Self::new`]
    /// with a shared secret).
    ///
    /// # Errors
    ///
    /// [`BuildError::DpopNonceSecret`] if the system has no randomness.
    pub fn random() -> Result<Self, BuildError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| BuildError::DpopNonceSecret)?;
        Self::new(&secret)
    }

    /// The length of a time step (default 30 s; at least 1 s).
    #[must_use]
    pub fn step(mut self, step: Duration) -> Self {
        self.step = step.as_secs().max(1);
        self
    }

    /// How many steps a nonce is accepted for (default 2; at least 1).
    #[must_use]
    pub fn accepted_steps(mut self, steps: u32) -> Self {
        self.accepted_steps = u64::from(steps.max(1));
        self
    }

    fn tag(&self, step: u64) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(&step.to_be_bytes());
        ctx.sign()
    }

    fn step_of(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.step
    }

    /// A nonce for the step of `now` (seconds since the epoch): 32 base64url characters.
    #[must_use]
    pub fn mint(&self, now: i64) -> String {
        let step = self.step_of(now);
        let mut raw = [0u8; 8 + TAG_LEN];
        raw[..8].copy_from_slice(&step.to_be_bytes());
        raw[8..].copy_from_slice(&self.tag(step).as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// True when `nonce` was minted by this secret within the accepted steps before
    /// `now` (never one from the future).
    #[must_use]
    pub fn check(&self, nonce: &str, now: i64) -> bool {
        if nonce.len() != 32 {
            return false;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Ok(step_bytes) = <[u8; 8]>::try_from(&raw[..8]) else {
            return false;
        };
        let step = u64::from_be_bytes(step_bytes);
        let current = self.step_of(now);
        if step > current || current - step >= self.accepted_steps {
            return false;
        }
        aws_lc_rs::constant_time::verify_slices_are_equal(
            &raw[8..],
            &self.tag(step).as_ref()[..TAG_LEN],
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_secret() {
        let n = NonceIssuer::new(&[1u8; 32]).unwrap();
        assert!(NonceIssuer::new(&[1u8; 31]).is_err());
        let nonce = n.mint(600);
        assert_eq!(nonce.len(), 32);
        // same step, next step: accepted; two steps later: refused; future: refused
        assert!(n.check(&nonce, 600));
        assert!(n.check(&nonce, 629));
        assert!(n.check(&nonce, 659));
        assert!(!n.check(&nonce, 660));
        assert!(!n.check(&nonce, 599));
        // another replica with the same secret accepts it
        assert!(NonceIssuer::new(&[1u8; 32]).unwrap().check(&nonce, 610));
        // three accepted steps
        let n3 = n.clone().accepted_steps(3);
        assert!(n3.check(&nonce, 689));
        assert!(!n3.check(&nonce, 690));
        // tampering: step moved forward, tag flipped, garbage
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        raw[7] ^= 1;
        assert!(!n.check(&URL_SAFE_NO_PAD.encode(&raw), 630));
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        raw[20] ^= 1;
        assert!(!n.check(&URL_SAFE_NO_PAD.encode(&raw), 600));
        assert!(!n.check("", 600));
        assert!(!n.check(&"A".repeat(32), 600));
        assert!(!n.check(&"*".repeat(32), 600));
        // a random issuer's nonces are its own
        let r = NonceIssuer::random().unwrap();
        assert!(r.check(&r.mint(5), 5));
        assert!(!n.check(&r.mint(600), 600));
    }
}
