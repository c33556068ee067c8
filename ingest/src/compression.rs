//! Request bodies compressed per their `Content-Encoding` (gzip, zstd, deflate),
//! inflated with a bound so a small body cannot expand without limit.

use std::io::Read;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

/// The codings a request body may come in, as a refusal's `Accept-Encoding`
/// lists them (RFC 7694: a 415 for an unknown coding should name the known ones).
pub const ACCEPTED_CODINGS: &str = "gzip, zstd, deflate";

/// Why a body could not be inflated.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("invalid {encoding} body: {detail}")]
    Invalid { encoding: &'static str, detail: String },
    #[error("decompressed body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("unsupported Content-Encoding {0:?}; use {ACCEPTED_CODINGS} or none", ACCEPTED_CODINGS = ACCEPTED_CODINGS)]
    Unsupported(String),
}

/// The codings a body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
    Zstd,
    /// HTTP's "deflate" is zlib-wrapped (RFC 9110 §8.4.1.2); some clients send a
    /// raw deflate stream instead, which is accepted too.
    Deflate,
}

impl Coding {
    fn from_header(headers: &HeaderMap) -> Result<Self, CompressionError> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(Coding::Identity) };
        let value = value.to_str().map_err(|_| CompressionError::Unsupported(String::from_utf8_lossy(value.as_bytes()).into_owned()))?;
        match value.trim().to_ascii_lowercase().as_str() {
            "identity" | "" => Ok(Coding::Identity),
            "gzip" | "x-gzip" => Ok(Coding::Gzip),
            "zstd" => Ok(Coding::Zstd),
            "deflate" => Ok(Coding::Deflate),
            other => Err(CompressionError::Unsupported(other.to_owned())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Zstd => "zstd",
            Coding::Deflate => "deflate",
        }
    }

    /// A reader of the inflated body.
    fn reader<'a>(self, raw: &'a [u8]) -> std::io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Coding::Identity => Box::new(raw),
            Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Coding::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(raw)?),
            Coding::Deflate if has_zlib_header(raw) => Box::new(flate2::read::ZlibDecoder::new(raw)),
            Coding::Deflate => Box::new(flate2::read::DeflateDecoder::new(raw)),
        })
    }
}

/// Whether `raw` starts with a zlib header (RFC 1950: method 8, and the first
/// two bytes as a big-endian number a multiple of 31).
fn has_zlib_header(raw: &[u8]) -> bool {
    matches!(raw, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}

/// The body as sent, inflated per its `Content-Encoding` (at most `max` bytes).
pub fn decompress(headers: &HeaderMap, raw: Bytes, max: usize) -> Result<Bytes, CompressionError> {
    let coding = Coding::from_header(headers)?;
    if coding == Coding::Identity {
        return Ok(raw);
    }
    let invalid = |e: std::io::Error| CompressionError::Invalid { encoding: coding.name(), detail: e.to_string() };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(max.saturating_add(1)));
    coding.reader(&raw).map_err(invalid)?.take((max as u64).saturating_add(1)).read_to_end(&mut out).map_err(invalid)?;
    if out.len() > max {
        return Err(CompressionError::TooLarge(max));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;

    use super::*;

    fn headers(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(encoding).unwrap());
        h
    }

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    }

    fn zlib(body: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(body: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_coding_inflates_to_the_body_sent() {
        let body = br#"{"event_id":"a"}"#.repeat(100);
        let cases = [
            ("gzip", gzip(&body)),
            ("x-gzip", gzip(&body)),
            ("zstd", zstd::encode_all(&body[..], 3).unwrap()),
            ("deflate", zlib(&body)),
            ("deflate", raw_deflate(&body)),
            ("identity", body.clone()),
            (" GZIP ", gzip(&body)),
        ];
        for (encoding, sent) in cases {
            let got = decompress(&headers(encoding), Bytes::from(sent), 1 << 20).unwrap_or_else(|e| panic!("{encoding}: {e}"));
            assert_eq!(got.as_ref(), body.as_slice(), "{encoding}");
        }
    }

    #[test]
    fn a_body_that_inflates_past_the_bound_is_refused() {
        let body = vec![b' '; 10_000];
        for (encoding, sent) in [("gzip", gzip(&body)), ("zstd", zstd::encode_all(&body[..], 3).unwrap()), ("deflate", zlib(&body))] {
            match decompress(&headers(encoding), Bytes::from(sent), 9_999) {
                Err(CompressionError::TooLarge(9_999)) => {}
                other => panic!("{encoding}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_corrupt_body_names_its_coding_and_an_unknown_coding_is_refused() {
        for encoding in ["gzip", "zstd", "deflate"] {
            match decompress(&headers(encoding), Bytes::from_static(b"\x78\x9cnot compressed at all"), 1 << 20) {
                Err(CompressionError::Invalid { encoding: name, .. }) => assert_eq!(name, encoding),
                other => panic!("{encoding}: {other:?}"),
            }
        }
        assert!(matches!(decompress(&headers("br"), Bytes::from_static(b"x"), 10), Err(CompressionError::Unsupported(e)) if e == "br"));
    }
}
