//! Zero-copy access to one JSON object: its members as `(key, raw value)` pairs,
//! and typed readers that turn a raw value into a field or a [`DecodeError`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{DecodeError, Reason};

/// A string that borrows from the input unless it contained escapes.
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object, in input order, values left unparsed.
pub struct Members<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses `input` as exactly one JSON object.
pub fn parse_object(input: &[u8]) -> Result<Members<'_>, DecodeError> {
    let first = input.iter().find(|b| !b.is_ascii_whitespace());
    let mut de = serde_json::Deserializer::from_slice(input);
    let members = match first {
        Some(b'{') => Members::deserialize_from(&mut de)?,
        Some(_) => {
            // Valid JSON that is not an object is reported as such; anything else as bad JSON.
            serde_json::from_slice::<de::IgnoredAny>(input).map_err(invalid_json)?;
            return Err(DecodeError::whole(Reason::NotAnObject));
        }
        None => return Err(DecodeError::whole(Reason::InvalidJson { detail: "empty input".into() })),
    };
    de.end().map_err(invalid_json)?;
    Ok(members)
}

impl<'a> Members<'a> {
    fn deserialize_from(de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'a>>) -> Result<Self, DecodeError> {
        serde::Deserialize::deserialize(de).map_err(invalid_json)
    }
}

fn invalid_json(e: serde_json::Error) -> DecodeError {
    DecodeError::whole(Reason::InvalidJson { detail: e.to_string() })
}

/// The JSON type of a raw value, by its first byte.
pub fn json_kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// Typed readers for one field; `Ok(None)` means JSON `null`.
pub struct Field {
    pub name: &'static str,
    /// Longest accepted string, in bytes.
    pub max_len: usize,
}

impl Field {
    pub fn new(name: &'static str, max_len: usize) -> Self {
        Field { name, max_len }
    }

    pub fn err(&self, reason: Reason) -> DecodeError {
        DecodeError::new(self.name, reason)
    }

    fn wrong(&self, expected: &'static str, raw: &RawValue) -> DecodeError {
        self.err(Reason::WrongType { expected, found: json_kind(raw) })
    }

    /// A string no longer than the field's limit.
    pub fn string<'a>(&self, raw: &'a RawValue) -> Result<Option<Cow<'a, str>>, DecodeError> {
        let s = match self.raw_string(raw)? {
            None => return Ok(None),
            Some(s) => s,
        };
        if s.len() > self.max_len {
            return Err(self.err(Reason::TooLong { len: s.len(), max: self.max_len }));
        }
        Ok(Some(s))
    }

    /// A string of any length (the caller bounds it, e.g. by truncation).
    pub fn raw_string<'a>(&self, raw: &'a RawValue) -> Result<Option<Cow<'a, str>>, DecodeError> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'"') => Ok(Some(unquote(text))),
            Some(b'n') => Ok(None),
            _ => Err(self.wrong("string", raw)),
        }
    }

    /// An integer in `[min, max]`.
    pub fn integer(&self, raw: &RawValue, min: i64, max: i64) -> Result<Option<i64>, DecodeError> {
        let text = raw.get();
        if is_null(raw) {
            return Ok(None);
        }
        if json_kind(raw) != "number" {
            return Err(self.wrong("integer", raw));
        }
        let v: i64 = match text.parse() {
            Ok(v) => v,
            Err(_) if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => {
                return Err(self.err(Reason::WrongType { expected: "integer", found: "number with a fraction or exponent" }));
            }
            Err(_) => return Err(self.err(Reason::OutOfRange { detail: format!("{text} does not fit in {min}..={max}") })),
        };
        if v < min && min == 0 {
            return Err(self.err(Reason::Negative { value: v as f64 }));
        }
        if v < min || v > max {
            return Err(self.err(Reason::OutOfRange { detail: format!("{v} is outside {min}..={max}") }));
        }
        Ok(Some(v))
    }

    /// A non-negative integer of up to 64 bits.
    pub fn unsigned(&self, raw: &RawValue) -> Result<Option<u64>, DecodeError> {
        let text = raw.get();
        if text.starts_with('-') && json_kind(raw) == "number" {
            return Err(self.err(Reason::Negative { value: text.parse().unwrap_or(f64::NAN) }));
        }
        if is_null(raw) {
            return Ok(None);
        }
        if json_kind(raw) != "number" {
            return Err(self.wrong("integer", raw));
        }
        text.parse::<u64>().map(Some).map_err(|_| {
            if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                self.err(Reason::WrongType { expected: "integer", found: "number with a fraction or exponent" })
            } else {
                self.err(Reason::OutOfRange { detail: format!("{text} does not fit in 64 bits") })
            }
        })
    }

    /// A finite number >= 0.
    pub fn non_negative_number(&self, raw: &RawValue) -> Result<Option<f64>, DecodeError> {
        if is_null(raw) {
            return Ok(None);
        }
        if json_kind(raw) != "number" {
            return Err(self.wrong("number", raw));
        }
        let v: f64 = raw.get().parse().map_err(|_| self.err(Reason::OutOfRange { detail: raw.get().to_owned() }))?;
        if !v.is_finite() {
            return Err(self.err(Reason::OutOfRange { detail: format!("{} is not finite", raw.get()) }));
        }
        if v < 0.0 {
            return Err(self.err(Reason::Negative { value: v }));
        }
        Ok(Some(v))
    }
}

/// The content of a JSON string literal; borrows unless it holds escapes.
pub fn unquote(text: &str) -> Cow<'_, str> {
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    // The literal was validated by the parser, so this cannot fail.
    Cow::Owned(serde_json::from_str::<String>(text).unwrap_or_default())
}

/// An attribute value: strings as they are, other JSON values as their JSON text.
pub fn attribute_value(raw: &RawValue) -> Cow<'_, str> {
    match raw.get().as_bytes().first() {
        Some(b'"') => unquote(raw.get()),
        _ => Cow::Borrowed(raw.get()),
    }
}
