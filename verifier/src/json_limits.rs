//! Bounded memory for untrusted JSON: a streaming pass that counts the values of a document
//! without building any of them, run before a parser that builds a tree.
//!
//! A `serde_json::Value` costs tens of bytes per value (80 for the enum, more for a map), so
//! `[[],[],…]` costs about 38 times its size as a tree (issue 18: a 63 MiB signature peaked at
//! 2.4 GB). Real Sigstore bundles and trust roots have a few hundred values at most (the
//! statement is one base64 string), so a document with more than [`MAX_JSON_VALUES`] values is
//! refused before any tree exists. What remains is proportional to the string bytes, which
//! the input size cap bounds.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The most JSON values (objects, arrays, strings, numbers, literals, each counted once) an
/// untrusted bundle or trust root may hold. Real ones hold under 1,000.
pub const MAX_JSON_VALUES: usize = 20_000;

/// The document holds more values than allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the JSON document holds more than {limit} values; real Sigstore bundles and trust roots hold a few hundred"
)]
pub struct TooManyValues {
    /// The limit that was exceeded.
    pub limit: usize,
}

/// Counts the values of `json` without allocating them. Malformed JSON passes: the real parser
/// that runs next reports it with its own message.
pub fn check(json: &[u8], limit: usize) -> Result<(), TooManyValues> {
    let counter = Counter {
        count: &Cell::new(0),
        limit,
        exceeded: &Cell::new(false),
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let _ = counter.deserialize(&mut de);
    if counter.exceeded.get() {
        Err(TooManyValues { limit })
    } else {
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Counter<'c> {
    count: &'c Cell<usize>,
    limit: usize,
    exceeded: &'c Cell<bool>,
}

impl Counter<'_> {
    fn bump<E: de::Error>(&self) -> Result<(), E> {
        let n = self.count.get() + 1;
        self.count.set(n);
        if n > self.limit {
            self.exceeded.set(true);
            return Err(E::custom("too many JSON values"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.bump()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.bump()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.bump()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.bump()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.bump()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.bump()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.bump()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.bump()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.bump()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            self.bump()?;
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_value_and_stops_at_the_limit() {
        // {"a": [1, "x", null, {}]}: object, key, array, 1, "x", null, {} = 7
        let doc = br#"{"a": [1, "x", null, {}]}"#;
        assert!(check(doc, 7).is_ok());
        assert_eq!(check(doc, 6), Err(TooManyValues { limit: 6 }));
        let many = format!("[{}[]]", "[],".repeat(100_000));
        assert!(check(many.as_bytes(), MAX_JSON_VALUES).is_err());
        // Malformed input is left to the real parser.
        assert!(check(b"{\"a\": ", 10).is_ok());
        assert!(check(b"not json", 10).is_ok());
    }
}
