//! A JSON record as rules read it: strings borrowed from the record where it
//! has no escapes, objects as lists in the record's order. Detection parses
//! every candidate event, so this avoids what a `serde_json::Value` costs
//! (a sorted map per object, an allocation per string).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

/// One JSON value, borrowing from the text it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Doc<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<Doc<'a>>),
    /// Keys in the record's order; a repeated key is read at its last occurrence.
    Obj(Vec<(Cow<'a, str>, Doc<'a>)>),
}

impl<'a> Doc<'a> {
    /// Parses a record; `None` unless it is a JSON object.
    pub(crate) fn parse(text: &'a str) -> Option<Doc<'a>> {
        serde_json::from_str::<Doc<'a>>(text)
            .ok()
            .filter(|d| matches!(d, Doc::Obj(_)))
    }

    /// The value of a key, compared exactly (the last one when repeated).
    pub(crate) fn get(&self, key: &str) -> Option<&Doc<'a>> {
        match self {
            Doc::Obj(o) => o.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of a key, ignoring ASCII case.
    pub(crate) fn get_ignore_case(&self, key: &str) -> Option<&Doc<'a>> {
        match self {
            Doc::Obj(o) => o
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Doc<'_> {
    /// Compact JSON, as `serde_json::Value` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Null => s.serialize_unit(),
            Doc::Bool(b) => s.serialize_bool(*b),
            Doc::Num(n) => n.serialize(s),
            Doc::Str(t) => s.serialize_str(t),
            Doc::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Doc::Obj(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

/// A string that borrows when the parser can lend it.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Doc::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Doc::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Doc::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Doc::Num(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Doc::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(Doc::Null, Doc::Num))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Doc::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Doc::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Doc::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Doc::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((Text(k), x)) = map.next_entry::<Text<'de>, Doc<'de>>()? {
            v.push((k, x));
        }
        Ok(Doc::Obj(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_unescaped_text_and_prints_like_serde_json() {
        let text = r#"{"a":"plain","b":"esc\"aped","n":[1,-2,2.5,1e300],"o":{"x":null,"y":true},"a":"last"}"#;
        let d = Doc::parse(text).expect("object");
        assert!(matches!(d.get("a"), Some(Doc::Str(Cow::Borrowed("last")))));
        assert!(matches!(d.get("b"), Some(Doc::Str(Cow::Owned(s))) if s == "esc\"aped"));
        assert_eq!(
            d.get_ignore_case("O").map(ToString::to_string).as_deref(),
            Some(r#"{"x":null,"y":true}"#)
        );
        let v: serde_json::Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            d.get("n").map(ToString::to_string),
            Some(v["n"].to_string())
        );
        assert_eq!(Doc::parse("[1]"), None);
        assert_eq!(Doc::parse("{\"a\":"), None);
    }
}
