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
        let mut seen = Seen::new();
        while let Some(Name(k)) = a.next_key()? {
            seen.insert(k)?;
            a.next_value_seed(Unique)?;
        }
        Ok(())
    }
}

/// The error a fused parse ([`Seen::insert`], [`UniqueValue`]) raises for a repeated
/// member name; [`is_duplicate`] recognises it.
pub(crate) fn duplicate<E: de::Error>() -> E {
    E::custom(DUPLICATE)
}

/// True when `e` was raised for a repeated member name.
pub(crate) fn is_duplicate(e: &serde_json::Error) -> bool {
    e.to_string().starts_with(DUPLICATE)
}

/// A member name, borrowed from the input unless it contains escapes (serde's own
/// `Cow<str>` would copy every name).
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string value borrowed from the input unless it contains escapes.
pub(crate) type BorrowedStr<'de> = Name<'de>;

const INLINE_NAMES: usize = 8;

/// The member names of one object seen so far. Small objects are the norm: a linear
/// scan over names kept inline (no allocation up to 8 names) beats hashing here.
pub(crate) struct Seen<'de> {
    inline: [Cow<'de, str>; INLINE_NAMES],
    len: usize,
    more: Vec<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    pub(crate) fn new() -> Self {
        Seen {
            inline: Default::default(),
            len: 0,
            more: Vec::new(),
        }
    }

    /// Remembers `name`; a repeated name is an error (and so are more than 1024
    /// members: too many to scan cheaply, such a token is not one of ours).
    pub(crate) fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        let n = self.len.min(INLINE_NAMES);
        if self.inline[..n].contains(&name) || self.more.contains(&name) {
            return Err(duplicate());
        }
        if self.len >= 1024 {
            return Err(E::custom("too many members"));
        }
        if self.len < INLINE_NAMES {
            self.inline[self.len] = name;
        } else {
            self.more.push(name);
        }
        self.len += 1;
        Ok(())
    }
}

/// Any JSON value, skipped, with no repeated member name at any depth; `true` when it
/// is `null` (for members whose `null` counts as absent).
pub(crate) struct UniqueSkip;

impl<'de> DeserializeSeed<'de> for UniqueSkip {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        struct IsNull;
        impl<'de> Visitor<'de> for IsNull {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_str<E>(self, _: &str) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_unit<E>(self) -> Result<bool, E> {
                Ok(true)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<bool, A::Error> {
                Unique.visit_seq(a).map(|()| false)
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<bool, A::Error> {
                Unique.visit_map(a).map(|()| false)
            }
        }
        d.deserialize_any(IsNull)
    }
}

/// A `serde_json::Value` built with no repeated member name at any depth (serde_json's
/// own keeps the last one).
pub(crate) struct UniqueValue;

impl<'de> DeserializeSeed<'de> for UniqueValue {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueValue {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Number::from_f64(v)
            .map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<serde_json::Value, A::Error> {
        let mut v = Vec::new();
        while let Some(e) = a.next_element_seed(UniqueValue)? {
            v.push(e);
        }
        Ok(serde_json::Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<serde_json::Value, A::Error> {
        let mut m = serde_json::Map::new();
        while let Some(Name(k)) = a.next_key()? {
            if m.contains_key(&*k) {
                return Err(duplicate());
            }
            if m.len() >= 1024 {
                return Err(de::Error::custom("too many members"));
            }
            let v = a.next_value_seed(UniqueValue)?;
            m.insert(k.into_owned(), v);
        }
        Ok(serde_json::Value::Object(m))
    }
}

/// Checks that `json` is one JSON value with no repeated member name in any object.
pub(crate) fn check_unique_members(json: &[u8]) -> Result<(), NotUnique> {
    let mut d = serde_json::Deserializer::from_slice(json);
    match Unique.deserialize(&mut d) {
        Ok(()) => d.end().map_err(|_| NotUnique::Invalid),
        Err(e) if is_duplicate(&e) => Err(NotUnique::Duplicate),
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
