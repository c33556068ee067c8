//! The HdrHistogram V2 serialization (the format every HdrHistogram library
//! reads), written from and read into [`SparseHistogram`] without a dense
//! counts array: a 40-byte big-endian header, then the counts from bin 0 to the
//! last non-empty bin as zig-zag LEB128 varints (at most 9 bytes), a run of
//! empty bins written as its negated length.
//!
//! Histograms with other parameters (significant digits, lowest value) or
//! DEFLATE-compressed (V2 compressed cookie) are read through the hdrhistogram
//! crate and re-binned.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use super::layout::{MAX_INDEX, SIGNIFICANT_FIGURES, highest_in, index_for};
use super::sparse::{HistogramBuilder, SparseHistogram};

const COOKIE: u32 = 0x1c84_9303 | 0x10;
const COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
const HEADER_LEN: usize = 40;

/// Why bytes are not a histogram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an HDR histogram: {0}")]
pub struct HistogramDecodeError(pub String);

fn bad(reason: impl Into<String>) -> HistogramDecodeError {
    HistogramDecodeError(reason.into())
}

/// Appends the V2 serialization of `h` to `out`.
pub fn encode_into(h: &SparseHistogram, out: &mut Vec<u8>) {
    let start = out.len();
    let highest = h.bins().last().map_or(2, |b| highest_in(b.0).max(2));
    out.extend_from_slice(&COOKIE.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // payload length, set below
    out.extend_from_slice(&0u32.to_be_bytes()); // normalizing index offset
    out.extend_from_slice(&u32::from(SIGNIFICANT_FIGURES).to_be_bytes());
    out.extend_from_slice(&1u64.to_be_bytes()); // lowest discernible value
    out.extend_from_slice(&highest.to_be_bytes());
    out.extend_from_slice(&1.0f64.to_be_bytes()); // integer to double ratio
    out.reserve(2 * h.bins().len() + 2);
    let mut next = 0u32;
    for &(index, count) in h.bins() {
        match index - next {
            0 => {}
            1 => write_varint(out, 0),
            gap => write_varint(out, zig_zag(-i64::from(gap))),
        }
        write_varint(out, zig_zag(count.min(i64::MAX as u64) as i64));
        next = index + 1;
    }
    if h.bins().is_empty() {
        write_varint(out, 0);
    }
    let payload = (out.len() - start - HEADER_LEN) as u32;
    out[start + 4..start + 8].copy_from_slice(&payload.to_be_bytes());
}

pub fn encode(h: &SparseHistogram) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 2 * h.bins().len() + 8);
    encode_into(h, &mut out);
    out
}

/// Reads a serialized histogram's non-empty bins, in index order, into `bins`
/// (cleared first).
pub fn decode_bins(bytes: &[u8], bins: &mut Vec<(u32, u64)>) -> Result<(), HistogramDecodeError> {
    bins.clear();
    let cookie = bytes.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    match cookie {
        Some(COOKIE) => {}
        Some(COMPRESSED_COOKIE) => return decode_other(bytes, bins),
        Some(other) => return Err(bad(format!("unknown cookie {other:#010x}"))),
        None => return Err(bad(format!("{} bytes, too short for a cookie", bytes.len()))),
    }
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| bad(format!("{} bytes, shorter than the 40-byte header", bytes.len())))?;
    let u32_at = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let ours =
        u32_at(8) == 0 && u32_at(12) == u32::from(SIGNIFICANT_FIGURES) && u64_at(16) == 1 && f64::from_bits(u64_at(32)) == 1.0;
    if !ours {
        return decode_other(bytes, bins);
    }
    let len = u32_at(4) as usize;
    let mut payload = bytes.get(HEADER_LEN..HEADER_LEN + len).ok_or_else(|| bad(format!("payload of {len} bytes is cut short")))?;
    let mut index: u64 = 0;
    while let Some(&first) = payload.first() {
        // Most counts and gaps fit one byte.
        let n = if first < 0x80 {
            payload = &payload[1..];
            un_zig_zag(u64::from(first))
        } else {
            un_zig_zag(read_varint(&mut payload)?)
        };
        if n < 0 {
            index = index.saturating_add(n.unsigned_abs());
        } else {
            if index > u64::from(MAX_INDEX) {
                return Err(bad("a count lies beyond the largest value"));
            }
            if n > 0 {
                bins.push((index as u32, n as u64));
            }
            index += 1;
        }
    }
    Ok(())
}

pub fn decode(bytes: &[u8]) -> Result<SparseHistogram, HistogramDecodeError> {
    let mut bins = Vec::new();
    decode_bins(bytes, &mut bins)?;
    Ok(SparseHistogram::from_sorted_bins(bins))
}

/// Another library's parameters, or compressed: the crate reads it, and each
/// recorded value is re-binned.
fn decode_other(bytes: &[u8], bins: &mut Vec<(u32, u64)>) -> Result<(), HistogramDecodeError> {
    let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).map_err(|e| bad(format!("{e:?}")))?;
    let mut b = HistogramBuilder::new();
    for v in h.iter_recorded() {
        b.add_bin(index_for(v.value_iterated_to()), v.count_at_value());
    }
    bins.extend_from_slice(b.finish().bins());
    Ok(())
}

fn zig_zag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn un_zig_zag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// LEB128 as HdrHistogram writes it: 7 bits a byte, the 9th byte whole.
#[inline]
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(input: &mut &[u8]) -> Result<u64, HistogramDecodeError> {
    let mut next_byte = || {
        let (&b, rest) = input.split_first().ok_or_else(|| bad("a count is cut short"))?;
        *input = rest;
        Ok::<u64, HistogramDecodeError>(u64::from(b))
    };
    let mut v = 0u64;
    for i in 0..8 {
        let b = next_byte()?;
        v |= (b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Ok(v | (next_byte()? << 56))
}
