//! The packed form of a histogram, for the partial states that SQL aggregates
//! hand from one phase to the next (never stored, never shown to users): a
//! 4-byte tag, then each non-empty bin as a little-endian `u16` index and `u32`
//! count. Written and read with plain copies, where V2's varints cost a branch
//! a byte. A histogram with a count over `u32::MAX` is written as V2 instead;
//! [`super::decode_bins`] reads both.

use super::layout::MAX_INDEX;
use super::sparse::SparseHistogram;
use super::v2::{HistogramDecodeError, encode_into};

/// Starts every packed histogram; no V2 cookie starts so.
pub(super) const TAG: u32 = u32::from_be_bytes(*b"tph1");
const BIN_BYTES: usize = 6;
const _: () = assert!(MAX_INDEX <= u16::MAX as u32, "bin indexes fit a u16");

/// Appends the packed form of `h` to `out` (V2 when a count needs more than 32 bits).
pub fn encode_packed_into(h: &SparseHistogram, out: &mut Vec<u8>) {
    if h.bins().iter().any(|&(_, count)| count > u64::from(u32::MAX)) {
        return encode_into(h, out);
    }
    out.reserve(4 + BIN_BYTES * h.bins().len());
    out.extend_from_slice(&TAG.to_be_bytes());
    for &(index, count) in h.bins() {
        out.extend_from_slice(&(index as u16).to_le_bytes());
        out.extend_from_slice(&(count as u32).to_le_bytes());
    }
}

/// Reads the bins of a packed histogram (tag included) into `bins`.
pub(super) fn decode_packed(bytes: &[u8], bins: &mut Vec<(u32, u64)>) -> Result<(), HistogramDecodeError> {
    let body = &bytes[4..];
    if body.len() % BIN_BYTES != 0 {
        return Err(HistogramDecodeError(format!("packed histogram of {} bytes is cut short", bytes.len())));
    }
    bins.reserve(body.len() / BIN_BYTES);
    let mut next = 0u32;
    for bin in body.chunks_exact(BIN_BYTES) {
        let index = u32::from(u16::from_le_bytes([bin[0], bin[1]]));
        let count = u64::from(u32::from_le_bytes([bin[2], bin[3], bin[4], bin[5]]));
        if index < next || count == 0 {
            return Err(HistogramDecodeError("packed bins out of order or empty".into()));
        }
        bins.push((index, count));
        next = index + 1;
    }
    Ok(())
}
