//! Zero-copy access to one JSON object: its members as `(key, raw value)` pairs
//! (read by [`super::scan`]), and typed readers that turn a raw value into a
//! field or a [`DecodeError`].

use std::borrow::Cow;

use super::scan::{self, Document, Kind, Member};
use crate::error::{DecodeError, Reason};

pub use super::scan::Raw;

/// Parses `input` as exactly one JSON object, handing each member (key and raw
/// value, in input order) to `member`.
///
/// The input is checked to be UTF-8 once, as a whole (by `simdutf8`, which
/// takes half the time of the standard library's check on 700-byte events);
/// the scanner then reads it as a `str` and need not validate each string
/// again. Malformed JSON is an error even when some members were already
/// handed over.
pub fn parse_object<'a>(input: &'a [u8], member: impl FnMut(Cow<'a, str>, Raw<'a>)) -> Result<(), DecodeError> {
    let text = simdutf8::basic::from_utf8(input).map_err(|_| {
        // The fast check does not say where; the standard one does.
        let at = std::str::from_utf8(input).err().map_or(0, |e| e.valid_up_to());
        DecodeError::whole(Reason::InvalidJson { detail: format!("invalid UTF-8 at byte {at}") })
    })?;
    match scan::document(text, member) {
        Ok(Document::Object) => Ok(()),
        // Valid JSON that is not an object is reported as such; anything else as bad JSON.
        Ok(Document::Other) => Err(DecodeError::whole(Reason::NotAnObject)),
        Err(e) => Err(DecodeError::whole(Reason::InvalidJson { detail: e.to_string() })),
    }
}

/// The members of a nested object value.
pub fn object_members<'a>(raw: &Raw<'a>, field: &'static str) -> Result<Vec<Member<'a>>, DecodeError> {
    scan::members(raw).map_err(|e| DecodeError::new(field, Reason::InvalidJson { detail: e.to_string() }))
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

    fn wrong(&self, expected: &'static str, raw: &Raw<'_>) -> DecodeError {
        self.err(Reason::WrongType { expected, found: raw.kind.name() })
    }

    /// A string no longer than the field's limit.
    pub fn string<'a>(&self, raw: &Raw<'a>) -> Result<Option<Cow<'a, str>>, DecodeError> {
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
    pub fn raw_string<'a>(&self, raw: &Raw<'a>) -> Result<Option<Cow<'a, str>>, DecodeError> {
        match raw.kind {
            Kind::String => Ok(Some(raw.unquoted())),
            Kind::Null => Ok(None),
            _ => Err(self.wrong("string", raw)),
        }
    }

    /// An integer in `[min, max]`.
    pub fn integer(&self, raw: &Raw<'_>, min: i64, max: i64) -> Result<Option<i64>, DecodeError> {
        let Some(text) = self.number_text(raw, "integer")? else { return Ok(None) };
        let v: i64 = match text.parse() {
            Ok(v) => v,
            Err(_) if has_fraction_or_exponent(text) => return Err(self.fractional()),
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
    pub fn unsigned(&self, raw: &Raw<'_>) -> Result<Option<u64>, DecodeError> {
        let Some(text) = self.number_text(raw, "integer")? else { return Ok(None) };
        if text.starts_with('-') {
            return Err(self.err(Reason::Negative { value: text.parse().unwrap_or(f64::NAN) }));
        }
        text.parse::<u64>().map(Some).map_err(|_| {
            if has_fraction_or_exponent(text) {
                self.fractional()
            } else {
                self.err(Reason::OutOfRange { detail: format!("{text} does not fit in 64 bits") })
            }
        })
    }

    /// The text of a JSON number; `None` for `null`; any other kind is an
    /// error saying `expected`.
    fn number_text<'a>(&self, raw: &Raw<'a>, expected: &'static str) -> Result<Option<&'a str>, DecodeError> {
        match raw.kind {
            Kind::Null => Ok(None),
            Kind::Number => Ok(Some(raw.text)),
            _ => Err(self.wrong(expected, raw)),
        }
    }

    fn fractional(&self) -> DecodeError {
        self.err(Reason::WrongType { expected: "integer", found: "number with a fraction or exponent" })
    }

    /// A finite number >= 0.
    pub fn non_negative_number(&self, raw: &Raw<'_>) -> Result<Option<f64>, DecodeError> {
        let Some(text) = self.number_text(raw, "number")? else { return Ok(None) };
        let v: f64 = text.parse().map_err(|_| self.err(Reason::OutOfRange { detail: text.to_owned() }))?;
        if !v.is_finite() {
            return Err(self.err(Reason::OutOfRange { detail: format!("{text} is not finite") }));
        }
        if v < 0.0 {
            return Err(self.err(Reason::Negative { value: v }));
        }
        Ok(Some(v))
    }
}

fn has_fraction_or_exponent(number: &str) -> bool {
    number.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// An attribute value: strings as they are, other JSON values as their JSON text.
pub fn attribute_value<'a>(raw: &Raw<'a>) -> Cow<'a, str> {
    match raw.kind {
        Kind::String => raw.unquoted(),
        _ => Cow::Borrowed(raw.text),
    }
}
