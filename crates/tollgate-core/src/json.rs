//! Strict JSON helpers: refuse duplicate member names at any depth.
//!
//! RFC 7515 §4 and RFC 7519 §4 let a parser either reject duplicate member names or keep
//! the last; serde keeps the last (or fails only for known struct fields). A token whose
//! header says `alg` twice is ambiguous across implementations, so we refuse it.
//! Nesting depth is bounded by serde_json's recursion limit (128).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why [`check_unique_members`] refused a document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotUnique {
    /// An object repeats a member name.
    Duplicate,
    /// Not one well-formed JSON value (or nested too deep).
    Invalid,
}

const DUPLICATE: &str = "tollgate: duplicate member";

struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        // Small objects are the norm: a linear scan beats hashing here.
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(k) = a.next_key::<Cow<'de, str>>()? {
            if seen.contains(&k) {
                return Err(de::Error::custom(DUPLICATE));
            }
            if seen.len() >= 1024 {
                // Too many members to scan cheaply: such a token is not one of ours.
                return Err(de::Error::custom("too many members"));
            }
            seen.push(k);
            a.next_value_seed(Unique)?;
        }
        Ok(())
    }
}

/// Checks that `json` is one JSON value with no repeated member name in any object.
pub(crate) fn check_unique_members(json: &[u8]) -> Result<(), NotUnique> {
    let mut d = serde_json::Deserializer::from_slice(json);
    match Unique.deserialize(&mut d) {
        Ok(()) => d.end().map_err(|_| NotUnique::Invalid),
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err(NotUnique::Duplicate),
        Err(_) => Err(NotUnique::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_at_any_depth() {
        assert!(check_unique_members(br#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        assert_eq!(
            check_unique_members(br#"{"a":1,"a":1}"#),
            Err(NotUnique::Duplicate)
        );
        assert_eq!(
            check_unique_members(br#"{"a":1e309}"#),
            Err(NotUnique::Invalid)
        );
        assert!(check_unique_members(br#"{"b":{"c":1,"c":2}}"#).is_err());
        assert!(check_unique_members(br#"[{"x":1,"x":2}]"#).is_err());
        // escaped spelling of the same name is still the same name
        assert!(check_unique_members(br#"{"alg":1,"\u0061lg":2}"#).is_err());
        assert!(check_unique_members(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(check_unique_members(deep.as_bytes()).is_err());
    }
}

/// A header or claim member that must be a string: lets the caller refuse other JSON
/// types with a precise error instead of a generic parse failure.
#[derive(Debug)]
pub(crate) enum StrField<'a> {
    Str(Cow<'a, str>),
    Invalid,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for StrField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = StrField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrField::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrField::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrField::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrField::Invalid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrField::Invalid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrField::Invalid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrField::Invalid)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrField::Invalid)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(StrField::Invalid)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(StrField::Invalid)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
