//! Actor policy: who may act on whose behalf (RFC 8693 delegation, the `act` claim).
//!
//! A token obtained by token exchange with an actor carries
//! `act: {"sub": "orders", "act": {"sub": "gateway"}}`: the subject (`sub`, e.g. a
//! user) is represented by `orders` (the current actor), which got it from `gateway`.
//! [`Claims::actor_chain`] reads that chain (current actor first). An [`ActorPolicy`]
//! set on a [`Validation`](crate::Validation) with
//! [`ValidationBuilder::actor_policy`](crate::validation::ValidationBuilder::actor_policy)
//! checks it for every token, so every layer built on that validation enforces it; a
//! token that fails is refused like any other bad token (401 `invalid_token`,
//! [`ClaimsError::ActorNotAllowed`]). [`ActorPolicy::check`] is the same check for
//! use in a handler (e.g. per route).
//!
//! The chain names actors by their `sub` (or `client_id` when `act` has no `sub`).
//! `may_act` (RFC 8693 §4.4) is for the authorization server; it is not checked here.
//!
//! # Example
//!
//! ```
//! use tollgate_core::{Claims, actor::ActorPolicy};
//!
//! // only calls made on behalf of someone, by `orders` directly, at most two hops
//! let policy = ActorPolicy::new().require_actor().current_actor_one_of(["orders"]).max_chain_len(2);
//!
//! // accepted: alice's request, forwarded by gateway then orders
//! let c = Claims::<()>::from_json(br#"{"sub":"alice","act":{"sub":"orders","act":{"sub":"gateway"}}}"#).unwrap();
//! assert!(policy.check(&c).is_ok());
//!
//! // rejected: no actor (orders' own token, or alice calling directly)
//! let direct = Claims::<()>::from_json(br#"{"sub":"alice"}"#).unwrap();
//! assert!(policy.check(&direct).is_err());
//! // rejected: the current actor is someone else
//! let other = Claims::<()>::from_json(br#"{"sub":"alice","act":{"sub":"billing"}}"#).unwrap();
//! assert!(policy.check(&other).is_err());
//! ```

use crate::Claims;
use crate::error::ClaimsError;

/// Constraints on the `act` chain of a token. The default allows everything
/// (delegated or not, any actor); each builder method adds one constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct ActorPolicy {
    require: bool,
    forbid: bool,
    current: Option<Box<[Box<str>]>>,
    max_len: Option<usize>,
}

impl ActorPolicy {
    /// No constraint yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens must carry an `act` claim naming at least one actor (delegated calls
    /// only).
    pub fn require_actor(mut self) -> Self {
        self.require = true;
        self
    }

    /// Tokens must not carry an `act` claim (direct calls only).
    pub fn forbid_actor(mut self) -> Self {
        self.forbid = true;
        self
    }

    /// When a token is delegated, its current (outermost) actor must be one of these.
    pub fn current_actor_one_of<S: AsRef<str>>(
        mut self,
        actors: impl IntoIterator<Item = S>,
    ) -> Self {
        self.current = Some(actors.into_iter().map(|a| Box::from(a.as_ref())).collect());
        self
    }

    /// At most `n` actors in the chain (`act` nested at most `n` deep).
    pub fn max_chain_len(mut self, n: usize) -> Self {
        self.max_len = Some(n);
        self
    }

    /// Checks the token's actor chain against this policy.
    ///
    /// # Errors
    ///
    /// [`ClaimsError::ActorNotAllowed`] when a constraint is not met (also when `act`
    /// is present but not an object naming an actor). It implements `Display` and
    /// `Error`, and converts into [`AuthError`](crate::AuthError) with `?` or `into()`
    /// (401 `invalid_token`, like the same refusal made by the verifier).
    pub fn check<X>(&self, claims: &Claims<X>) -> Result<(), ClaimsError> {
        let chain = claims.actor_chain();
        let delegated = claims.act.is_some();
        let ok = if delegated {
            !self.forbid
                && !chain.is_empty()
                && self.max_len.is_none_or(|m| chain.len() <= m)
                && self
                    .current
                    .as_deref()
                    .is_none_or(|allowed| allowed.iter().any(|a| **a == *chain[0]))
        } else {
            !self.require
        };
        if ok {
            Ok(())
        } else {
            Err(ClaimsError::ActorNotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        Claims::<()>::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn constraints() {
        let none = claims(r#"{"sub":"u"}"#);
        let one = claims(r#"{"sub":"u","act":{"sub":"a"}}"#);
        let two = claims(r#"{"sub":"u","act":{"sub":"b","act":{"sub":"a"}}}"#);
        let broken = claims(r#"{"sub":"u","act":"a"}"#);
        let p = ActorPolicy::new();
        assert!(p.check(&none).is_ok() && p.check(&two).is_ok());
        assert!(p.check(&broken).is_err());
        let p = ActorPolicy::new().forbid_actor();
        assert!(p.check(&none).is_ok() && p.check(&one).is_err());
        let p = ActorPolicy::new().max_chain_len(1);
        assert!(p.check(&one).is_ok() && p.check(&two).is_err());
        let p = ActorPolicy::new().current_actor_one_of(["b"]);
        assert!(p.check(&two).is_ok() && p.check(&one).is_err() && p.check(&none).is_ok());
    }

    #[test]
    fn refusal_is_printable_and_maps_to_the_wire() {
        let e = ActorPolicy::new()
            .forbid_actor()
            .check(&claims(r#"{"sub":"u","act":{"sub":"secret-actor"}}"#))
            .unwrap_err();
        let shown = e.to_string();
        assert_eq!(shown, "act claim refused by actor policy");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(!format!("{boxed} {boxed:?}").contains("secret-actor"));
        let auth = crate::AuthError::from(e);
        assert_eq!(auth.wire().status, 401);
        assert_eq!(auth.to_string(), shown);
    }
}
