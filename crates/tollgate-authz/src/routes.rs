//! Route rules: which original requests are public, which need which scopes, and the
//! default for everything else (refused).
//!
//! - A rule matches by **path prefix on segment boundaries**: `/orders` matches
//!   `/orders`, `/orders/` and `/orders/7`, never `/orders-admin`; `/` matches every
//!   path. The query string is not part of the path.
//! - The **longest matching prefix decides**. Among the rules with that prefix, the one
//!   listing the request method (or listing none) applies; when none does, the request
//!   is refused. Shorter prefixes are never consulted: writing a rule for `/orders`
//!   takes `/orders` out of every broader rule.
//! - A path the upstream could read differently than tollgate (dot segments, encoded
//!   `.`, `/` or `\`, a backslash, control characters) matches **no** rule.
//! - No rule: refused (403). Nothing is allowed by default.
//!
//! # Example
//!
//! ```
//! use tollgate_authz::routes::{Access, Route, Routes, Matched};
//! use tollgate_tower::scopes::all;
//!
//! let routes = Routes::new([
//!     Route::new("/orders", Access::Scopes(all(["orders:read"]))).methods(["GET"]),
//!     Route::new("/health", Access::Public),
//! ])
//! .unwrap();
//! // accepted
//! assert!(matches!(routes.find("GET", "/orders/7?x=1"), Matched::Protected(_)));
//! assert!(matches!(routes.find("GET", "/health"), Matched::Public));
//! // refused: another method, another path, a path that could be read two ways
//! assert!(matches!(routes.find("POST", "/orders"), Matched::None));
//! assert!(matches!(routes.find("GET", "/orders-admin"), Matched::None));
//! assert!(matches!(routes.find("GET", "/health/../orders"), Matched::None));
//! ```

use std::fmt;

use http::Method;
use tollgate_core::scope::ScopePolicy;

/// What a matched rule requires.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// No token needed (`public = true`); a token that is sent is not checked, and no
    /// identity headers are set.
    Public,
    /// A valid token whose scopes meet the policy (an empty `all` list: any valid token).
    Scopes(ScopePolicy),
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Public => f.write_str("Public"),
            Access::Scopes(p) => f.debug_tuple("Scopes").field(p).finish(),
        }
    }
}

/// One rule (`[[route]]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Route {
    prefix: String,
    methods: Option<Vec<Method>>,
    access: Access,
}

impl Route {
    /// A rule for every path under `prefix` (segment-wise), any method.
    pub fn new(prefix: impl Into<String>, access: Access) -> Self {
        Route {
            prefix: prefix.into(),
            methods: None,
            access,
        }
    }

    /// Only these methods (upper-case tokens, e.g. `GET`); call once.
    ///
    /// # Panics
    ///
    /// When a name is not a valid HTTP method token (a configuration error found at
    /// start-up; the configuration file reports it as an error instead).
    pub fn methods<'a>(mut self, methods: impl IntoIterator<Item = &'a str>) -> Self {
        let parsed = methods
            .into_iter()
            .map(|m| match parse_method(m) {
                Ok(m) => m,
                Err(e) => panic!("{e}"),
            })
            .collect();
        self.methods = Some(parsed);
        self
    }

    pub(crate) fn with_methods(mut self, methods: Option<Vec<Method>>) -> Self {
        self.methods = methods;
        self
    }

    /// The path prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What the rule requires.
    #[must_use]
    pub fn access(&self) -> &Access {
        &self.access
    }

    fn allows_method(&self, method: &str) -> bool {
        match &self.methods {
            None => true,
            Some(ms) => ms.iter().any(|m| m.as_str() == method),
        }
    }

    fn prefix_len_if_match(&self, path: &str) -> Option<usize> {
        let p = self.prefix.as_str();
        let rest = path.strip_prefix(p)?;
        if p.ends_with('/') || rest.is_empty() || rest.starts_with('/') {
            Some(p.len())
        } else {
            None
        }
    }
}

pub(crate) fn parse_method(m: &str) -> Result<Method, String> {
    let ok = !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    match (ok, Method::from_bytes(m.as_bytes())) {
        (true, Ok(method)) => Ok(method),
        _ => Err(format!(
            "{m:?} is not an upper-case HTTP method name (e.g. \"GET\")"
        )),
    }
}

/// Why a set of rules was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A prefix does not start with `/`.
    #[error("route[{index}].prefix must start with \"/\"")]
    Prefix {
        /// The rule's position.
        index: usize,
    },
    /// A prefix holds characters that never match a canonical path.
    #[error("route[{index}].prefix {problem}")]
    PrefixNotCanonical {
        /// The rule's position.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two rules with the same prefix both apply to one method (or both to any).
    #[error(
        "route[{index}] repeats route[{earlier}]: same prefix {prefix:?} and overlapping methods"
    )]
    Duplicate {
        /// The later rule.
        index: usize,
        /// The earlier rule.
        earlier: usize,
        /// The prefix.
        prefix: String,
    },
    /// A method list is empty (the rule could never match).
    #[error("route[{index}].methods is empty (leave it out for every method)")]
    NoMethods {
        /// The rule's position.
        index: usize,
    },
}

/// The rules, checked and ordered for lookup; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// By prefix length, longest first; stable within one length (configuration order).
    rules: Vec<Route>,
}

/// The rule that applies to a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Matched<'a> {
    /// Public: allowed without a token.
    Public,
    /// A valid token meeting this policy is needed.
    Protected(&'a ScopePolicy),
    /// No rule: refused.
    None,
}

impl Routes {
    /// Checks and orders `rules`.
    ///
    /// # Errors
    ///
    /// [`RouteError`] naming the rule (by its position).
    pub fn new(rules: impl IntoIterator<Item = Route>) -> Result<Self, RouteError> {
        let rules: Vec<Route> = rules.into_iter().collect();
        for (index, r) in rules.iter().enumerate() {
            if !r.prefix.starts_with('/') {
                return Err(RouteError::Prefix { index });
            }
            if let Err(problem) = canonical_path(&r.prefix) {
                return Err(RouteError::PrefixNotCanonical { index, problem });
            }
            if r.methods.as_ref().is_some_and(Vec::is_empty) {
                return Err(RouteError::NoMethods { index });
            }
            for (earlier, e) in rules[..index].iter().enumerate() {
                let overlap = match (&e.methods, &r.methods) {
                    (None, _) | (_, None) => true,
                    (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
                };
                if e.prefix == r.prefix && overlap {
                    return Err(RouteError::Duplicate {
                        index,
                        earlier,
                        prefix: r.prefix.clone(),
                    });
                }
            }
        }
        let mut rules = rules;
        rules.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Routes { rules })
    }

    /// The rules, longest prefix first.
    pub fn rules(&self) -> &[Route] {
        &self.rules
    }

    /// The rule for `method` and `uri` (a request target: path, optionally `?query`).
    #[must_use]
    pub fn find(&self, method: &str, uri: &str) -> Matched<'_> {
        match self.find_index(method, uri) {
            Some(i) => match &self.rules[i].access {
                Access::Public => Matched::Public,
                Access::Scopes(p) => Matched::Protected(p),
            },
            None => Matched::None,
        }
    }

    /// The position (in [`Self::rules`]) of the rule for `method` and `uri`.
    #[must_use]
    pub fn find_index(&self, method: &str, uri: &str) -> Option<usize> {
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        if canonical_path(path).is_err() {
            return None;
        }
        let mut best: Option<usize> = None;
        for (i, r) in self.rules.iter().enumerate() {
            let Some(len) = r.prefix_len_if_match(path) else {
                continue;
            };
            if let Some(b) = best
                && self.rules[b].prefix.len() > len
            {
                // rules are ordered longest first: nothing later can be longer
                break;
            }
            if r.allows_method(method) {
                return Some(i);
            }
            // the longest matching prefix decides, even when its methods do not fit
            best = Some(i);
        }
        None
    }
}

/// A path the upstream cannot read differently: starts with `/`; no dot segments
/// (`.`, `..`, also with `;` parameters as some servers read them), no encoded `.`,
/// `/`, `\` or NUL, no backslash, no control characters or spaces.
pub(crate) fn canonical_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("must start with \"/\"");
    }
    let b = path.as_bytes();
    if b.iter().any(|&c| c <= b' ' || c == 0x7f || c == b'\\') {
        return Err("holds a space, a control character or a backslash");
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return Err("holds an encoded \".\", \"/\", \"\\\" or NUL");
    }
    for seg in path.split('/') {
        let name = seg.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err("holds a \".\" or \"..\" segment");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_tower::scopes::{all, any};

    fn routes() -> Routes {
        Routes::new([
            Route::new("/", Access::Scopes(any(["admin"]))),
            Route::new("/orders", Access::Scopes(all(["orders:read"]))).methods(["GET"]),
            Route::new("/orders", Access::Scopes(all(["orders:write"]))).methods(["POST"]),
            Route::new("/orders/archive/", Access::Public),
            Route::new("/health", Access::Public),
        ])
        .unwrap()
    }

    fn prefix(r: &Routes, m: &str, p: &str) -> Option<String> {
        r.find_index(m, p).map(|i| r.rules()[i].prefix().to_owned())
    }

    #[test]
    fn longest_prefix_then_method() {
        let r = routes();
        assert_eq!(prefix(&r, "GET", "/orders").as_deref(), Some("/orders"));
        assert_eq!(prefix(&r, "GET", "/orders/").as_deref(), Some("/orders"));
        assert_eq!(
            prefix(&r, "GET", "/orders/1?a=/b").as_deref(),
            Some("/orders")
        );
        assert!(
            matches!(r.find("POST", "/orders"), Matched::Protected(p) if p == &all(["orders:write"]))
        );
        // /orders with DELETE: the longest prefix decides, "/" is not consulted
        assert_eq!(prefix(&r, "DELETE", "/orders/1"), None);
        // segment boundaries
        assert_eq!(prefix(&r, "GET", "/orders-admin").as_deref(), Some("/"));
        assert_eq!(prefix(&r, "GET", "/healthz").as_deref(), Some("/"));
        assert_eq!(
            prefix(&r, "GET", "/orders/archive/2020").as_deref(),
            Some("/orders/archive/")
        );
        assert_eq!(
            prefix(&r, "GET", "/orders/archive").as_deref(),
            Some("/orders")
        );
        assert_eq!(prefix(&r, "GET", "/").as_deref(), Some("/"));
    }

    #[test]
    fn unmatched_is_none_without_a_catch_all() {
        let r = Routes::new([Route::new("/health", Access::Public)]).unwrap();
        assert!(matches!(r.find("GET", "/orders"), Matched::None));
        assert!(matches!(r.find("GET", "/"), Matched::None));
        assert!(matches!(r.find("GET", ""), Matched::None));
        assert!(matches!(r.find("GET", "health"), Matched::None));
        assert!(matches!(Routes::default().find("GET", "/"), Matched::None));
    }

    #[test]
    fn ambiguous_paths_match_nothing() {
        let r = routes();
        for p in [
            "/health/../orders",
            "/health/..",
            "/health/./x",
            "/health/..;/orders",
            "/health/%2e%2e/orders",
            "/health/%2E./orders",
            "/health%2f..%2forders",
            "/health\\..\\orders",
            "/health/%00",
            "/health/ x",
            "/health/\tx",
            "*",
            "http://evil/health",
        ] {
            assert_eq!(prefix(&r, "GET", p), None, "{p}");
        }
        // ordinary percent-encoding is fine (compared as written: fails closed)
        assert_eq!(
            prefix(&r, "GET", "/health/a%20b").as_deref(),
            Some("/health")
        );
        assert_eq!(prefix(&r, "GET", "/%68ealth").as_deref(), Some("/"));
        assert_eq!(prefix(&r, "GET", "/health/...").as_deref(), Some("/health"));
    }

    #[test]
    fn configuration_errors_name_the_rule() {
        let e = Routes::new([Route::new("orders", Access::Public)]).unwrap_err();
        assert_eq!(e.to_string(), "route[0].prefix must start with \"/\"");
        let e = Routes::new([
            Route::new("/a", Access::Public).methods(["GET", "POST"]),
            Route::new("/a", Access::Public).methods(["POST"]),
        ])
        .unwrap_err();
        assert!(
            e.to_string().starts_with("route[1] repeats route[0]"),
            "{e}"
        );
        assert!(
            Routes::new([
                Route::new("/a", Access::Public).methods(["GET"]),
                Route::new("/a", Access::Public).methods(["POST"]),
            ])
            .is_ok()
        );
        let e = Routes::new([Route::new("/a/../b", Access::Public)]).unwrap_err();
        assert!(e.to_string().starts_with("route[0].prefix holds"), "{e}");
        assert!(parse_method("get").is_err());
        assert!(parse_method("GET").is_ok());
    }
}
