//! OAuth 2.0 scopes: validated scope tokens, scope sets, and scope policies.
//!
//! A [`Scope`] is one scope-token as defined by RFC 6749 §3.3
//! (`1*( %x21 / %x23-5B / %x5D-7E )`). A [`ScopeSet`] is what a token grants; it
//! deserializes from a space-delimited `scope` string or an `scp` array. A
//! [`ScopePolicy`] is what a route or method demands.
//!
//! # Example
//!
//! ```
//! use tollgate_core::scope::{Scope, ScopePolicy, ScopeSet};
//!
//! const READ: Scope = Scope::from_static("orders:read");
//! const WRITE: Scope = Scope::from_static("orders:write");
//!
//! let granted: ScopeSet = "orders:read profile".parse().unwrap();
//! // accepted: the token holds `orders:read`
//! assert!(ScopePolicy::all_of([READ]).is_satisfied_by(&granted));
//! // rejected: `orders:write` is missing; the challenge names what is required
//! let policy = ScopePolicy::all_of([READ, WRITE]);
//! assert!(!policy.is_satisfied_by(&granted));
//! assert_eq!(policy.challenge_scope(), "orders:read orders:write");
//! // invalid scope strings are refused, not repaired
//! assert!("orders:read  profile".parse::<ScopeSet>().is_err());
//! ```

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::str::FromStr;

/// Returns true when `b` is allowed in an RFC 6749 scope-token.
const fn is_scope_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

const fn is_valid_scope(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !is_scope_byte(bytes[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Why a scope or scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// The scope-token was empty (also: two spaces in a row, or a leading/trailing space).
    Empty,
    /// The scope-token contained a byte outside `%x21 / %x23-5B / %x5D-7E`
    /// (the offending position is given, never the value).
    InvalidCharacter {
        /// Byte offset of the first invalid byte within the scope-token.
        position: usize,
    },
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Empty => f.write_str("empty scope-token (RFC 6749 section 3.3)"),
            ScopeError::InvalidCharacter { position } => write!(
                f,
                "invalid character at byte {position} of a scope-token (RFC 6749 section 3.3)"
            ),
        }
    }
}

impl std::error::Error for ScopeError {}

/// One RFC 6749 §3.3 scope-token, e.g. `orders:read`.
///
/// Compared byte for byte (scopes are case-sensitive).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(Cow<'static, str>);

impl Scope {
    /// A scope from a string literal, checked at compile time when used in a `const`.
    ///
    /// # Panics
    ///
    /// Panics (a compile error in `const` context) when `s` is not a valid scope-token.
    ///
    /// ```
    /// use tollgate_core::scope::Scope;
    /// const READ: Scope = Scope::from_static("orders:read");
    /// assert_eq!(READ.as_str(), "orders:read");
    /// ```
    #[must_use]
    pub const fn from_static(s: &'static str) -> Self {
        assert!(is_valid_scope(s), "invalid RFC 6749 scope-token");
        Scope(Cow::Borrowed(s))
    }

    /// Validates and wraps an owned or borrowed string.
    ///
    /// ```
    /// use tollgate_core::scope::Scope;
    /// assert!(Scope::new("inventory:read").is_ok());
    /// assert!(Scope::new("has space").is_err());
    /// assert!(Scope::new("quote\"").is_err());
    /// ```
    pub fn new(s: impl Into<Cow<'static, str>>) -> Result<Self, ScopeError> {
        let s = s.into();
        validate(&s)?;
        Ok(Scope(s))
    }

    /// The scope as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(s: &str) -> Result<(), ScopeError> {
    if s.is_empty() {
        return Err(ScopeError::Empty);
    }
    match s.bytes().position(|b| !is_scope_byte(b)) {
        Some(position) => Err(ScopeError::InvalidCharacter { position }),
        None => Ok(()),
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Scope {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::new(s.to_owned())
    }
}

impl TryFrom<&str> for Scope {
    type Error = ScopeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Scope::new(s)
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Scope::new(s).map_err(serde::de::Error::custom)
    }
}

/// The set of scopes a token grants: sorted, without duplicates.
///
/// Parsed from the space-delimited `scope` claim (exactly one space between tokens,
/// none leading or trailing), from an `scp` array, or the union of both.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// An empty set.
    #[must_use]
    pub const fn new() -> Self {
        ScopeSet(Vec::new())
    }

    /// Parses a space-delimited scope string (RFC 6749 §3.3 `scope-token *( SP scope-token )`).
    ///
    /// An empty string is the empty set.
    pub fn parse_delimited(s: &str) -> Result<Self, ScopeError> {
        let mut set = ScopeSet::new();
        set.extend_delimited(s)?;
        Ok(set)
    }

    /// Adds each scope of a space-delimited string.
    pub(crate) fn extend_delimited(&mut self, s: &str) -> Result<(), ScopeError> {
        if s.is_empty() {
            return Ok(());
        }
        for part in s.split(' ') {
            validate(part)?;
            self.insert(Scope(Cow::Owned(part.to_owned())));
        }
        Ok(())
    }

    /// Inserts one scope; returns false when it was already present.
    pub fn insert(&mut self, scope: Scope) -> bool {
        match self.0.binary_search(&scope) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, scope);
                true
            }
        }
    }

    /// True when the set holds `scope`.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| s.as_str().cmp(scope)).is_ok()
    }

    /// Number of scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no scope is granted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates in sorted order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }

    /// True when every scope of `other` is in `self`.
    #[must_use]
    pub fn is_superset(&self, other: &ScopeSet) -> bool {
        other.iter().all(|s| self.contains(s.as_str()))
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

/// Space-delimited, sorted.
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScopeSet::parse_delimited(s)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        let mut v: Vec<Scope> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        ScopeSet(v)
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts a space-delimited string or an array of scope-tokens.
impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ScopeSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-delimited scope string or an array of scope-tokens")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScopeSet, E> {
                ScopeSet::parse_delimited(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ScopeSet, A::Error> {
                let mut set = ScopeSet::new();
                while let Some(s) = seq.next_element::<Cow<'de, str>>()? {
                    validate(&s).map_err(serde::de::Error::custom)?;
                    set.insert(Scope(Cow::Owned(s.into_owned())));
                }
                Ok(set)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// What a route or RPC method demands of a token's scopes.
///
/// Internally a disjunction of conjunctions: the policy is met when the token holds
/// every scope of at least one alternative. The [`Default`] is [`ScopePolicy::deny_all`]
/// (fail closed).
///
/// ```
/// use tollgate_core::scope::{Scope, ScopePolicy, ScopeSet};
/// let p = ScopePolicy::any_of_all_of([
///     vec![Scope::from_static("admin")],
///     vec![Scope::from_static("orders:read"), Scope::from_static("orders:write")],
/// ]);
/// assert!(p.is_satisfied_by(&"admin".parse::<ScopeSet>().unwrap()));
/// assert!(p.is_satisfied_by(&"orders:write orders:read".parse::<ScopeSet>().unwrap()));
/// assert!(!p.is_satisfied_by(&"orders:read".parse::<ScopeSet>().unwrap()));
/// assert!(!ScopePolicy::default().is_satisfied_by(&"admin".parse::<ScopeSet>().unwrap()));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ScopePolicy {
    alternatives: Vec<Vec<Scope>>,
}

impl ScopePolicy {
    /// Never satisfied. The default.
    #[must_use]
    pub const fn deny_all() -> Self {
        ScopePolicy {
            alternatives: Vec::new(),
        }
    }

    /// Satisfied by any authenticated token, whatever its scopes.
    #[must_use]
    pub fn authenticated() -> Self {
        ScopePolicy {
            alternatives: vec![Vec::new()],
        }
    }

    /// Satisfied when the token holds every listed scope.
    ///
    /// An empty list is the same as [`ScopePolicy::authenticated`].
    #[must_use]
    pub fn all_of(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut v: Vec<Scope> = scopes.into_iter().collect();
        v.sort();
        v.dedup();
        ScopePolicy {
            alternatives: vec![v],
        }
    }

    /// Satisfied when the token holds at least one listed scope.
    ///
    /// An empty list is the same as [`ScopePolicy::deny_all`].
    #[must_use]
    pub fn any_of(scopes: impl IntoIterator<Item = Scope>) -> Self {
        ScopePolicy {
            alternatives: scopes.into_iter().map(|s| vec![s]).collect(),
        }
    }

    /// Satisfied when the token holds all scopes of at least one of the given sets.
    #[must_use]
    pub fn any_of_all_of<I, S>(sets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: IntoIterator<Item = Scope>,
    {
        ScopePolicy {
            alternatives: sets
                .into_iter()
                .map(|s| {
                    let mut v: Vec<Scope> = s.into_iter().collect();
                    v.sort();
                    v.dedup();
                    v
                })
                .collect(),
        }
    }

    /// Either this policy or `other` (a union of alternatives).
    #[must_use]
    pub fn or(mut self, other: ScopePolicy) -> Self {
        self.alternatives.extend(other.alternatives);
        self
    }

    /// True when `granted` meets the policy.
    #[must_use]
    pub fn is_satisfied_by(&self, granted: &ScopeSet) -> bool {
        self.alternatives
            .iter()
            .any(|alt| alt.iter().all(|s| granted.contains(s.as_str())))
    }

    /// True when the policy can never be met.
    #[must_use]
    pub fn is_deny_all(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// The alternatives, each a list of scopes that must all be present.
    #[must_use]
    pub fn alternatives(&self) -> &[Vec<Scope>] {
        &self.alternatives
    }

    /// The scopes to name in an RFC 6750 `scope="..."` challenge parameter: the first
    /// alternative, space-delimited (the smallest set the client could obtain to
    /// succeed, as listed by the configuration). Empty for `deny_all` and
    /// `authenticated`.
    #[must_use]
    pub fn challenge_scope(&self) -> String {
        let mut out = String::new();
        if let Some(first) = self.alternatives.first() {
            for (i, s) in first.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(s.as_str());
            }
        }
        out
    }
}

impl fmt::Debug for ScopePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.alternatives.is_empty() {
            return f.write_str("ScopePolicy(deny_all)");
        }
        f.write_str("ScopePolicy(")?;
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            f.write_str("[")?;
            for (j, s) in alt.iter().enumerate() {
                if j > 0 {
                    f.write_str(" & ")?;
                }
                f.write_str(s.as_str())?;
            }
            f.write_str("]")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6749_character_set() {
        assert!(Scope::new("a").is_ok());
        assert!(Scope::new("!#[]~").is_ok());
        assert_eq!(Scope::new(""), Err(ScopeError::Empty));
        assert_eq!(
            Scope::new("a\"b"),
            Err(ScopeError::InvalidCharacter { position: 1 })
        );
        assert_eq!(
            Scope::new("a\\b"),
            Err(ScopeError::InvalidCharacter { position: 1 })
        );
        assert_eq!(
            Scope::new("a b"),
            Err(ScopeError::InvalidCharacter { position: 1 })
        );
        assert_eq!(
            Scope::new("é"),
            Err(ScopeError::InvalidCharacter { position: 0 })
        );
        assert!(Scope::new("a\u{7f}").is_err());
    }

    #[test]
    fn delimited_is_strict() {
        assert_eq!(ScopeSet::parse_delimited("").map(|s| s.len()), Ok(0));
        assert_eq!(ScopeSet::parse_delimited("a b a").map(|s| s.len()), Ok(2));
        assert_eq!(ScopeSet::parse_delimited("a  b"), Err(ScopeError::Empty));
        assert_eq!(ScopeSet::parse_delimited(" a"), Err(ScopeError::Empty));
        assert_eq!(ScopeSet::parse_delimited("a "), Err(ScopeError::Empty));
        assert!(ScopeSet::parse_delimited("a\tb").is_err());
    }

    #[test]
    fn serde_string_and_array() {
        let a: ScopeSet = serde_json::from_str(r#""b a""#).unwrap();
        let b: ScopeSet = serde_json::from_str(r#"["a","b","a"]"#).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<ScopeSet>(r#"["a b"]"#).is_err());
        assert!(serde_json::from_str::<ScopeSet>(r#"[1]"#).is_err());
        assert!(serde_json::from_str::<ScopeSet>(r#"7"#).is_err());
        assert_eq!(serde_json::to_string(&a).unwrap(), r#""a b""#);
    }

    #[test]
    fn policies() {
        let set: ScopeSet = "a b".parse().unwrap();
        let a = Scope::from_static("a");
        let c = Scope::from_static("c");
        assert!(!ScopePolicy::deny_all().is_satisfied_by(&set));
        assert!(ScopePolicy::authenticated().is_satisfied_by(&ScopeSet::new()));
        assert!(ScopePolicy::all_of([a.clone()]).is_satisfied_by(&set));
        assert!(!ScopePolicy::all_of([a.clone(), c.clone()]).is_satisfied_by(&set));
        assert!(ScopePolicy::any_of([a.clone(), c.clone()]).is_satisfied_by(&set));
        assert!(!ScopePolicy::any_of([]).is_satisfied_by(&set));
        assert!(!ScopePolicy::any_of([c.clone()]).is_satisfied_by(&set));
        assert!(
            ScopePolicy::all_of([c.clone()])
                .or(ScopePolicy::all_of([a]))
                .is_satisfied_by(&set)
        );
        assert_eq!(ScopePolicy::any_of([c]).challenge_scope(), "c");
        assert_eq!(ScopePolicy::deny_all().challenge_scope(), "");
    }

    fn scope_token() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[!#-\\[\\]-~]{1,12}").unwrap()
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in ".*") {
            let _ = ScopeSet::parse_delimited(&s);
            let _ = Scope::new(s.clone());
            let _ = serde_json::from_str::<ScopeSet>(&format!("{s:?}"));
        }

        #[test]
        fn valid_lists_round_trip(tokens in proptest::collection::vec(scope_token(), 0..8)) {
            let joined = tokens.join(" ");
            let set = ScopeSet::parse_delimited(&joined).unwrap();
            for t in &tokens {
                prop_assert!(set.contains(t));
            }
            let again = ScopeSet::parse_delimited(&set.to_string()).unwrap();
            prop_assert_eq!(&again, &set);
            let json = serde_json::to_string(&set).unwrap();
            prop_assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
        }
    }
}
