//! Request bodies compressed with gzip (`Content-Encoding`), inflated with a
//! bound so a small body cannot expand without limit.

use std::io::Read;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

/// Why a body could not be inflated.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("invalid gzip body: {0}")]
    Invalid(String),
    #[error("decompressed body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("unsupported Content-Encoding {0:?}; use gzip or none")]
    Unsupported(String),
}

/// The body as sent, inflated per its `Content-Encoding` (at most `max` bytes).
pub fn decompress(headers: &HeaderMap, raw: Bytes, max: usize) -> Result<Bytes, CompressionError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(raw.len() * 4);
            let mut reader = flate2::read::MultiGzDecoder::new(&raw[..]).take(max as u64 + 1);
            reader.read_to_end(&mut out).map_err(|e| CompressionError::Invalid(e.to_string()))?;
            if out.len() > max {
                return Err(CompressionError::TooLarge(max));
            }
            Ok(Bytes::from(out))
        }
        other => Err(CompressionError::Unsupported(other.to_owned())),
    }
}
