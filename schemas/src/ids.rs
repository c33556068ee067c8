//! Identifiers: event ids (UUIDs stored as 16 bytes, anything else kept as text)
//! and W3C trace-context ids (stored as fixed-size binary, shown as lowercase hex).

use std::borrow::Cow;
use std::fmt;

use uuid::Uuid;

/// The unique id of an event, the deduplication key.
///
/// A canonical (lowercase, hyphenated) UUID is kept as its 16 bytes; any other
/// string is kept verbatim. Both render back to exactly the text that arrived.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventId<'a> {
    Uuid(Uuid),
    Text(Cow<'a, str>),
}

impl<'a> EventId<'a> {
    /// Classifies an id string. Never fails: non-UUID ids are valid too.
    pub fn parse(s: impl Into<Cow<'a, str>>) -> Self {
        let s = s.into();
        if s.len() == 36
            && let Ok(u) = Uuid::try_parse(&s)
        {
            let mut buf = [0u8; 36];
            if u.hyphenated().encode_lower(&mut buf).as_bytes() == s.as_bytes() {
                return EventId::Uuid(u);
            }
        }
        EventId::Text(s)
    }

    /// The 16-byte key used for storage and deduplication: the UUID's bytes, or a
    /// 128-bit XXH3 hash of any other id.
    pub fn key(&self) -> [u8; 16] {
        match self {
            EventId::Uuid(u) => *u.as_bytes(),
            EventId::Text(t) => xxhash_rust::xxh3::xxh3_128(t.as_bytes()).to_be_bytes(),
        }
    }

    /// The text form, only for ids that are not canonical UUIDs.
    pub fn text(&self) -> Option<&str> {
        match self {
            EventId::Uuid(_) => None,
            EventId::Text(t) => Some(t),
        }
    }

    pub fn into_owned(self) -> EventId<'static> {
        match self {
            EventId::Uuid(u) => EventId::Uuid(u),
            EventId::Text(t) => EventId::Text(Cow::Owned(t.into_owned())),
        }
    }
}

impl fmt::Display for EventId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventId::Uuid(u) => write!(f, "{}", u.hyphenated()),
            EventId::Text(t) => f.write_str(t),
        }
    }
}

/// A W3C trace id: 16 bytes, written as 32 lowercase hex digits.
pub type TraceId = [u8; 16];
/// A W3C span id: 8 bytes, written as 16 lowercase hex digits.
pub type SpanId = [u8; 8];

/// The deduplication key of one call, from its trace context: a tool call that
/// arrives twice (as an audit event and as an OTLP span, or in two exports) has
/// the same `(trace_id, span_id)`, whatever its event ids.
pub fn call_key(trace: &TraceId, span: &SpanId) -> [u8; 16] {
    keyed(b"call", trace, span)
}

/// The deduplication key of one stored span.
pub fn span_key(trace: &TraceId, span: &SpanId) -> [u8; 16] {
    keyed(b"span", trace, span)
}

/// The event id given to a tool call that arrived as a span: stable across an
/// exporter's retries, and distinct from its call key (both are deduplicated).
pub fn span_event_id(trace: &TraceId, span: &SpanId) -> [u8; 16] {
    keyed(b"evid", trace, span)
}

fn keyed(kind: &[u8; 4], trace: &TraceId, span: &SpanId) -> [u8; 16] {
    let mut buf = [0u8; 28];
    buf[..4].copy_from_slice(kind);
    buf[4..20].copy_from_slice(trace);
    buf[20..].copy_from_slice(span);
    xxhash_rust::xxh3::xxh3_128(&buf).to_be_bytes()
}

/// Parses `N` bytes from exactly `2N` hex digits (either case).
pub fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    // Any invalid digit sets a high bit of `bad`; checked once at the end.
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUES[pair[0] as usize], HEX_VALUES[pair[1] as usize]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// The value of each hex digit; 0xff for any other byte.
const HEX_VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Lowercase hex of any byte slice.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuid_is_binary_and_round_trips() {
        let s = "0192f0c4-8e4a-7b3c-9d2e-1f0a2b3c4d5e";
        let id = EventId::parse(s);
        assert!(matches!(id, EventId::Uuid(_)));
        assert_eq!(id.to_string(), s);
    }

    #[test]
    fn other_ids_stay_text_verbatim() {
        for s in ["0192F0C4-8E4A-7B3C-9D2E-1F0A2B3C4D5E", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "evt-42"] {
            let id = EventId::parse(s);
            assert_eq!(id.text(), Some(s));
            assert_eq!(id.to_string(), s);
        }
        assert_ne!(EventId::parse("a").key(), EventId::parse("b").key());
    }

    #[test]
    fn hex_ids() {
        assert_eq!(parse_hex::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(parse_hex::<2>("0aF"), None);
        assert_eq!(parse_hex::<2>("0aFg"), None);
        assert_eq!(parse_hex::<2>("g0ff"), None);
        assert_eq!(parse_hex::<2>("0a\u{e9}"), None);
        assert_eq!(to_hex(&[0x0a, 0xff]), "0aff");
    }
}
