//! A strict single-pass reader of one JSON object: its members as (key, raw
//! value) pairs, each value's kind noted and nested values validated but kept
//! as text. The input is `str` (checked as UTF-8 once by the caller), so no
//! string is validated twice, and strings without escapes are borrowed as is.

use std::borrow::Cow;

/// Deepest nesting accepted (serde_json's default recursion limit).
const MAX_DEPTH: usize = 128;

/// The JSON kind of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Number,
    Boolean,
    Null,
    Object,
    Array,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
            Kind::Object => "object",
            Kind::Array => "array",
        }
    }
}

/// One value's JSON text (a string literal keeps its quotes).
#[derive(Debug, Clone, Copy)]
pub struct Raw<'a> {
    pub text: &'a str,
    pub kind: Kind,
    /// A string literal holding escapes (so its content is not its text).
    pub escaped: bool,
}

impl<'a> Raw<'a> {
    /// The content of a string literal; borrowed unless it holds escapes.
    ///
    /// Inlined: every key and string value of an event passes here (2% of a
    /// Kafka ingester's CPU time as a call, `perf`); unescaping is rare.
    #[inline]
    pub fn unquoted(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(&self.text[1..self.text.len() - 1]);
        }
        Cow::Owned(self.unescaped())
    }

    #[cold]
    fn unescaped(&self) -> String {
        // The literal was validated by the scanner, so this cannot fail.
        serde_json::from_str::<String>(self.text).unwrap_or_default()
    }
}

/// Malformed JSON: what was expected, where, and what was there instead
/// (`None` at the end of the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub expected: &'static str,
    pub at: usize,
    pub found: Option<char>,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {} at byte {}, found ", self.expected, self.at)?;
        match self.found {
            // Quoted, with control and invisible characters escaped.
            Some(c) => write!(f, "{c:?}"),
            None => f.write_str("the end of the input"),
        }
    }
}

/// What the text holds, when it is one valid JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// An object; its members were handed to the visitor.
    Object,
    /// Valid JSON that is not an object.
    Other,
}

/// A top-level object member: its key (unescaped) and raw value.
pub type Member<'a> = (Cow<'a, str>, Raw<'a>);

/// Reads `text` as exactly one JSON value (surrounding whitespace allowed),
/// handing each member of a top-level object to `member`, in input order.
pub fn document<'a>(text: &'a str, mut member: impl FnMut(Cow<'a, str>, Raw<'a>)) -> Result<Document, ScanError> {
    // A leading byte order mark is skipped, as RFC 8259 (section 8.1) lets a
    // parser do: Windows tools write one.
    let pos = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let mut s = Scanner { text, bytes: text.as_bytes(), pos };
    s.whitespace();
    let doc = if s.peek() == Some(b'{') {
        s.object_with(1, |key, value| member(key.unquoted(), value))?;
        Document::Object
    } else {
        s.value(1)?;
        Document::Other
    };
    s.whitespace();
    if s.pos != s.bytes.len() {
        return Err(s.error("end of input"));
    }
    Ok(doc)
}

/// Reads `raw` (an object value) as its members.
pub fn members<'a>(raw: &Raw<'a>) -> Result<Vec<Member<'a>>, ScanError> {
    let mut out = Vec::new();
    match document(raw.text, |k, v| out.push((k, v)))? {
        Document::Object => Ok(out),
        Document::Other => Err(ScanError { expected: "an object", at: 0, found: raw.text.chars().next() }),
    }
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    #[cold]
    fn error(&self, expected: &'static str) -> ScanError {
        // `None` too where the position is inside a multi-byte character.
        let found = self.text.get(self.pos..).and_then(|rest| rest.chars().next());
        ScanError { expected, at: self.pos, found }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), ScanError> {
        if self.peek() != Some(byte) {
            return Err(self.error(expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// An object, each member handed to `member`.
    fn object_with(&mut self, depth: usize, mut member: impl FnMut(Raw<'a>, Raw<'a>)) -> Result<(), ScanError> {
        self.list(depth, b'{', b'}', "',' or '}'", |s| {
            if s.peek() != Some(b'"') {
                return Err(s.error("a string key"));
            }
            let key = s.string()?;
            s.whitespace();
            s.expect(b':', "':'")?;
            s.whitespace();
            let value = s.member_value(depth + 1)?;
            member(key, value);
            Ok(())
        })
    }

    fn array(&mut self, depth: usize) -> Result<(), ScanError> {
        self.list(depth, b'[', b']', "',' or ']'", |s| s.value(depth + 1).map(drop))
    }

    /// `open item (, item)* close` or `open close`; each item read by `item`,
    /// which starts after any whitespace.
    fn list(
        &mut self,
        depth: usize,
        open: u8,
        close: u8,
        separator: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(self.error("less nesting"));
        }
        self.expect(open, if open == b'{' { "'{'" } else { "'['" })?;
        self.whitespace();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            item(self)?;
            self.whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error(separator)),
            }
        }
    }

    /// [`Self::value`], with the common kinds (strings, numbers) read inline.
    #[inline(always)]
    fn member_value(&mut self, depth: usize) -> Result<Raw<'a>, ScanError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => {
                let kind = self.number()?;
                Ok(Raw { text: &self.text[start..self.pos], kind, escaped: false })
            }
            _ => self.value(depth),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Raw<'a>, ScanError> {
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'"') => return self.string(),
            Some(b'{') => {
                self.object_with(depth, |_, _| {})?;
                Kind::Object
            }
            Some(b'[') => {
                self.array(depth)?;
                Kind::Array
            }
            Some(b't') => self.literal(b"true", Kind::Boolean)?,
            Some(b'f') => self.literal(b"false", Kind::Boolean)?,
            Some(b'n') => self.literal(b"null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return Err(self.error("a value")),
        };
        Ok(Raw { text: &self.text[start..self.pos], kind, escaped: false })
    }

    fn literal(&mut self, word: &'static [u8], kind: Kind) -> Result<Kind, ScanError> {
        if !self.bytes[self.pos..].starts_with(word) {
            return Err(self.error("a value"));
        }
        self.pos += word.len();
        Ok(kind)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    #[inline(always)]
    fn number(&mut self) -> Result<Kind, ScanError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(Kind::Number)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), ScanError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("a digit"));
        }
        self.digits();
        Ok(())
    }

    /// A string literal at the current position (which holds `"`).
    #[inline(always)]
    fn string(&mut self) -> Result<Raw<'a>, ScanError> {
        let start = self.pos;
        self.pos += 1;
        let mut escaped = false;
        loop {
            let rest = &self.bytes[self.pos..];
            let Some(i) = string_stop(rest) else {
                self.pos = self.bytes.len();
                return Err(self.error("a closing '\"'"));
            };
            self.pos += i;
            match rest[i] {
                b'"' => {
                    self.pos += 1;
                    return Ok(Raw { text: &self.text[start..self.pos], kind: Kind::String, escaped });
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(self.error("no control character in a string")),
            }
        }
    }

    /// One escape sequence (the current position holds `\`).
    fn escape(&mut self) -> Result<(), ScanError> {
        match self.bytes.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by an escaped low one.
                        if self.bytes.get(self.pos) != Some(&b'\\') || self.bytes.get(self.pos + 1) != Some(&b'u') {
                            return Err(self.error("a low surrogate escape"));
                        }
                        match self.hex4()? {
                            0xDC00..=0xDFFF => Ok(()),
                            _ => Err(self.error("a low surrogate escape")),
                        }
                    }
                    0xDC00..=0xDFFF => Err(self.error("no lone low surrogate")),
                    _ => Ok(()),
                }
            }
            _ => Err(self.error("a valid escape")),
        }
    }

    /// `\uXXXX` at the current position; returns the code unit.
    fn hex4(&mut self) -> Result<u16, ScanError> {
        let digits = self.bytes.get(self.pos + 2..self.pos + 6).ok_or_else(|| self.error("4 hex digits"))?;
        let mut unit = 0u16;
        for &d in digits {
            let v = (d as char).to_digit(16).ok_or_else(|| self.error("4 hex digits"))?;
            unit = unit << 4 | v as u16;
        }
        self.pos += 6;
        Ok(unit)
    }
}

/// The offset of the first byte that ends a run of plain string content: `"`,
/// `\\` or a control byte (below 0x20, not allowed raw in a string).
///
/// Eight bytes at a time: for each byte class, `(v - 0x01..) & !v & 0x80..`
/// flags the bytes where `v` (the word xored with the byte, or the word itself
/// against 0x20) underflows. A borrow can flag bytes above a true hit, never
/// below it, so the lowest flag is exact.
#[inline]
fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let below_space = word.wrapping_sub(ONES * 0x20) & !word;
        let hits = (zero_byte(word ^ (ONES * b'"' as u64)) | zero_byte(word ^ (ONES * b'\\' as u64)) | below_space) & HIGHS;
        if hits != 0 {
            return Some(offset + hits.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner accepts exactly what serde_json reads into a value (which,
    /// unlike skipping, also rejects escapes of lone surrogates).
    fn agrees(text: &str) {
        let ours = document(text, |_, _| {}).is_ok();
        let theirs = serde_json::from_str::<serde_json::Value>(text).is_ok();
        assert_eq!(ours, theirs, "{text:?}: scanner {ours}, serde_json {theirs}");
    }

    #[test]
    fn accepts_and_rejects_like_serde_json() {
        for text in [
            r#"{}"#, r#" { "a" : 1 } "#, r#"{"a":-0.5e+10,"b":[1,{"c":null}],"d":true,"e":false}"#,
            r#"{"a":"\u00e9\n\"\\\/\b\f\r\t"}"#, r#"{"a":"\ud83d\ude00"}"#, r#"[1,2]"#, r#""s""#, "12", "null",
            r#"{"a":1,}"#, r#"{"a" 1}"#, r#"{a:1}"#, r#"{"a":01}"#, r#"{"a":1.}"#, r#"{"a":.5}"#, r#"{"a":-}"#,
            r#"{"a":1e}"#, r#"{"a":tru}"#, r#"{"a":nul}"#, r#"{"a":"x}"#, r#"{"a":"\x"}"#, r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#, r#"{"a":"\udc00"}"#, r#"{"a":"\ud800\u0041"}"#, "{\"a\":\"tab\there\"}", r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#, r#"{} {}"#, r#"{"a":1"#, "", "   ", r#"{"a":{"b":}}"#, r#"{"a":+1}"#, r#"{"a":1}x"#,
            "{\"a\":\t\"x\"}\r\n", "{\"a\":\t\"x\ty\"}", "{\"a\":\"x\u{1}\"}",
            r#"{"a":"\u00E9"}"#, r#"{"a":[]}"#, r#"{"a":{}}"#, r#"{"":0}"#, r#"{"a":0.0e-0}"#, r#"{"a":Infinity}"#,
        ] {
            agrees(text);
        }
    }

    #[test]
    fn members_keep_order_kind_and_text() {
        let mut m = Vec::new();
        let doc = document(r#"{"a":"x","b\"":12.5,"c":{"d":[1]},"e":null,"f":"\n"}"#, |k, v| m.push((k, v)));
        assert_eq!(doc, Ok(Document::Object));
        let view: Vec<(&str, &str, Kind, bool)> = m.iter().map(|(k, v)| (k.as_ref(), v.text, v.kind, v.escaped)).collect();
        assert_eq!(
            view,
            [
                ("a", "\"x\"", Kind::String, false),
                ("b\"", "12.5", Kind::Number, false),
                ("c", r#"{"d":[1]}"#, Kind::Object, false),
                ("e", "null", Kind::Null, false),
                ("f", "\"\\n\"", Kind::String, true),
            ]
        );
        assert_eq!(m[4].1.unquoted(), "\n");
        assert!(matches!(m[0].0, Cow::Borrowed(_)));
    }

    #[test]
    fn string_stop_finds_the_first_quote_backslash_or_control_byte() {
        // Every position, in words and in the tail, with high bytes (UTF-8) around.
        for len in 0..40 {
            for at in 0..len {
                for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes: Vec<u8> = (0..len).map(|i| if i % 3 == 0 { 0xc3 } else { b'a' + (i % 26) as u8 }).collect();
                    bytes[at] = stop;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    assert_eq!(string_stop(&bytes), Some(at), "{bytes:?}");
                }
            }
            let plain: Vec<u8> = (0..len).map(|i| [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff][i % 8]).collect();
            assert_eq!(string_stop(&plain), None, "{plain:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(document(&deep, |_, _| {}).err().map(|e| e.expected), Some("less nesting"));
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(document(&ok, |_, _| {}).is_ok());
    }
}
