//! Where a value goes: the bin layout of an HdrHistogram with 3 significant
//! decimal digits and a lowest discernible value of 1 (the parameters every
//! toolpulse histogram uses). The arithmetic is HdrHistogram's, so bin indexes
//! are the positions of the counts in its V2 serialization.

/// Significant decimal digits kept for each value.
pub const SIGNIFICANT_FIGURES: u8 = 3;

/// log2 of half the number of sub-buckets (2048 sub-buckets for 3 digits).
const HALF_COUNT_MAGNITUDE: u32 = 10;
const HALF_COUNT: u32 = 1 << HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (2 * HALF_COUNT as u64) - 1;
/// 64 − log2(sub-bucket count) − unit magnitude (0).
const LEADING_ZERO_COUNT_BASE: u32 = 64 - (HALF_COUNT_MAGNITUDE + 1);

/// The largest bin index (the bin of `u64::MAX`).
pub const MAX_INDEX: u32 = index_for(u64::MAX);

const fn bucket_for(value: u64) -> u32 {
    LEADING_ZERO_COUNT_BASE - (value | SUB_BUCKET_MASK).leading_zeros()
}

/// The bin counting `value`.
pub const fn index_for(value: u64) -> u32 {
    let bucket = bucket_for(value);
    let sub_bucket = (value >> bucket) as u32;
    ((bucket + 1) << HALF_COUNT_MAGNITUDE) + sub_bucket - HALF_COUNT
}

/// The lowest value counted in bin `index`.
pub const fn lowest_in(index: u32) -> u64 {
    let bucket = (index >> HALF_COUNT_MAGNITUDE) as i64 - 1;
    let sub_bucket = (index & (HALF_COUNT - 1)) + HALF_COUNT;
    if bucket < 0 { (sub_bucket - HALF_COUNT) as u64 } else { (sub_bucket as u64) << bucket }
}

/// The highest value counted in bin `index`, as HdrHistogram reports it (for
/// the last bin, whose end does not fit in a u64, one less than `u64::MAX`).
pub const fn highest_in(index: u32) -> u64 {
    let low = lowest_in(index);
    low.saturating_add(1u64 << bucket_for(low)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    /// The layout agrees with the hdrhistogram crate on bins and their bounds.
    #[test]
    fn bins_are_hdrhistograms() {
        let h: Histogram<u64> = Histogram::new_with_bounds(1, u64::MAX, 3).unwrap();
        let mut values = vec![0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 999_999, 1_000_000, u64::MAX - 1, u64::MAX];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            let i = index_for(v);
            assert!(i <= MAX_INDEX);
            assert_eq!(lowest_in(i), h.lowest_equivalent(v), "lowest of {v}");
            if v < u64::MAX {
                assert_eq!(highest_in(i), h.highest_equivalent(v), "highest of {v}");
                assert!(lowest_in(i) <= v && v <= highest_in(i), "{v} in its bin");
            }
        }
    }

    #[test]
    fn neighbouring_bins_touch() {
        for i in 0..MAX_INDEX {
            assert_eq!(highest_in(i) + 1, lowest_in(i + 1), "bins {i} and {}", i + 1);
        }
        assert_eq!(highest_in(MAX_INDEX), u64::MAX - 1);
    }
}
